// @synod/core/node (Node only: it reads package.json files): how hosts find the protocol
// packages installed next to them. ADR 0018.
export { findPackageDir, installedProtocols } from '../node/discover.js'
export type { InstalledProtocol } from '../node/discover.js'
export { importExtrasModule, importFactory, isProtocolFactory, loadInstalledFactory, ProtocolUnavailableError } from './load.js'
export type { ImportModule } from './load.js'
export { parseProtocolManifest, ProtocolManifestError } from './manifest.js'
export type { ConformanceExtrasManifest, ConformanceManifest, ProtocolManifest } from './manifest.js'
