import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { SynodError } from '@synod/core'

export const LOCK_FILE = 'LOCK'

/** Another live process (or another storage in this process) owns the data directory. */
export class StorageLockedError extends SynodError {
  readonly dir: string
  readonly pid: number | undefined
  constructor(dir: string, pid: number | undefined) {
    super(
      'STORAGE_LOCKED',
      `data directory ${dir} is in use by ${pid === undefined ? 'another process' : `process ${pid}`}; stop it first or use another directory ` +
        `(if no Synod node uses it, delete ${join(dir, LOCK_FILE)})`,
    )
    this.dir = dir
    this.pid = pid
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10)
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Take `dir/LOCK` (created exclusively, holding our pid). A lock left by a
 * dead process is taken over. Returns the release function.
 *
 * Limitation: two processes taking over the same stale lock at the same
 * instant can race (both see it stale); starting two nodes on one directory
 * at once after a crash is the only way to hit it.
 */
export function acquireLock(dir: string): () => void {
  const path = join(dir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o600)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = readOwner(path)
      // An unreadable pid may be a lock being written right now: treat as held.
      if (owner === undefined || isAlive(owner)) throw new StorageLockedError(dir, owner)
      try {
        unlinkSync(path)
      } catch (unlinkError) {
        if ((unlinkError as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkError
      }
      continue
    }
    try {
      writeSync(fd, `${process.pid}\n`)
    } finally {
      closeSync(fd)
    }
    let released = false
    return () => {
      if (released) return
      released = true
      try {
        unlinkSync(path)
      } catch {
        // Already gone: nothing to release.
      }
    }
  }
  throw new StorageLockedError(dir, readOwner(path))
}
