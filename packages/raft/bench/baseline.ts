// `pnpm --filter @synod/raft bench -- --baseline <git-ref>`: the tree at <ref> is extracted with
// `git archive` into a temporary directory (no worktree, no change to the repository), its
// dependencies installed from the pnpm store (`--frozen-lockfile --prefer-offline`), and its raft,
// core Replica and memoryStorage imported from source, so the bench can alternate runs of both in one
// process. Removed again at the end.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { ProtocolFactory, Replica, ReplicaOptions, Storage } from '@synod/core'

/** What the harness needs of one version: its Replica class and its memory storage. */
export interface Implementation {
  readonly Replica: new (options: ReplicaOptions) => Replica
  readonly memoryStorage: () => Storage & { sync(): Promise<void> }
}

export interface Baseline {
  readonly commit: string
  readonly raft: ProtocolFactory
  readonly implementation: Implementation
  dispose(): Promise<void>
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

export async function loadBaseline(ref: string): Promise<Baseline> {
  const commit = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: repoRoot, encoding: 'utf8' }).trim()
  const dir = mkdtempSync(join(tmpdir(), 'synod-raft-baseline-'))
  const dispose = async () => rmSync(dir, { recursive: true, force: true })
  try {
    console.log(`baseline ${ref} (${commit}) in ${dir}`)
    execFileSync('sh', ['-c', `git archive --format=tar ${commit} | tar -x -C "${dir}"`], { cwd: repoRoot, stdio: 'inherit' })
    execFileSync('npx', ['--yes', 'pnpm@10', 'install', '--frozen-lockfile', '--prefer-offline', '--ignore-scripts', '--reporter=silent'], { cwd: dir, stdio: 'inherit' })
    // Imported from source (the process runs with --conditions=@synod/source, so workspace packages resolve to src).
    const from = (path: string) => import(pathToFileURL(join(dir, path)).href)
    const core = (await from('packages/core/src/index.ts')) as { Replica: Implementation['Replica'] }
    const storage = (await from('packages/storage/src/index.ts')) as { memoryStorage: Implementation['memoryStorage'] }
    const raftModule = (await from('packages/raft/src/index.ts')) as { raft: ProtocolFactory }
    return { commit, raft: raftModule.raft, implementation: { Replica: core.Replica, memoryStorage: storage.memoryStorage }, dispose }
  } catch (error) {
    await dispose()
    throw error
  }
}
