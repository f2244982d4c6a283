// '@synod/core/node': what only runs in Node (it reads the file system). The main entry stays
// browser-safe; today this is the protocol registry (ADR 0018), which reads package.json files.
export * from './registry/index.js'
