// One in-process node (a single-voter Raft cluster) for tests of the daemon's
// behaviour that need no other members: created in a fresh temp directory.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readConfigFile, validateConfig } from '../src/config.js'
import { type RunningNode, startNode } from '../src/daemon.js'
import { initCommand } from '../src/init.js'

export interface SingleNode {
  readonly node: RunningNode
  readonly base: string
  readonly dataDir: string
  close(): Promise<void>
}

export async function startSingleNode(overrides: Record<string, unknown> = {}): Promise<SingleNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'synod-single-'))
  const { configFile } = await initCommand({ dataDir, protocol: 'raft', listen: '/ip4/127.0.0.1/tcp/0', http: '127.0.0.1:0', force: false })
  const { raw, baseDir } = readConfigFile(configFile)
  // Authentication off unless a test turns it on: these tests are about sessions and quotas, not credentials.
  const node = await startNode(validateConfig({ ...raw, logLevel: 'silent', authentication: false, ...overrides }, baseDir))
  // A single voter elects itself after one election timeout.
  for (let i = 0; i < 200 && node.replica.status().leader !== node.id; i++) await new Promise((r) => setTimeout(r, 25))
  return {
    node,
    base: `http://${node.httpAddress}`,
    dataDir,
    async close() {
      await node.stop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? null : JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
