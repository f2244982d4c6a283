// Node-only entry (`@synod/storage/node`): the durable write-ahead-log storage
// and its data-directory lock use node:fs. memoryStorage stays on the main,
// browser-safe entry and is re-exported here for one-import convenience.
export { DEFAULT_SEGMENT_BYTES, openDurableStorage } from './durable.js'
export type { DurableStorage, DurableStorageOptions, DurableStorageStats, DurableSync } from './durable.js'
export { StorageLockedError } from './lock.js'
export { memoryStorage } from './memory.js'
export type { CrashOptions, MemoryStorage, MemoryStorageStats } from './memory.js'
