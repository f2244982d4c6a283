// The browser-safe entry: memoryStorage imports no `node:` module. The durable
// write-ahead-log storage needs the file system: `@synod/storage/node`.
export { memoryStorage } from './memory.js'
export type { CrashOptions, MemoryStorage, MemoryStorageStats } from './memory.js'
