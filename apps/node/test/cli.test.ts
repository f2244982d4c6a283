import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { main } from '../src/cli.js'
import { type ClusterNode, prepareCluster, startCluster, stopNodes, waitLeader } from '../src/cluster.js'
import { readConfigFile, validateConfig } from '../src/config.js'
import { startNode } from '../src/daemon.js'
import { readKeyFile } from '../src/init.js'

const dir = mkdtempSync(join(tmpdir(), 'synod-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
// init makes your client key the first admin, creating it if absent: keep that out of $HOME here.
process.env.SYNOD_CLIENT_KEY = join(dir, 'client.key')

function capture(): { out: Writable; text: () => string } {
  let text = ''
  const out = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk)
      done()
    },
  })
  return { out, text: () => text }
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { out, text } = capture()
  let err = ''
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk)
    return true
  })
  try {
    const code = await main(args, out)
    return { code, out: text(), err }
  } finally {
    spy.mockRestore()
  }
}

describe('synod CLI', () => {
  it('prints usage without a command and rejects unknown commands and flags with exit 2', async () => {
    expect((await run([])).code).toBe(2)
    const unknown = await run(['frobnicate'])
    expect(unknown.code).toBe(2)
    expect(unknown.err).toMatch(/unknown command 'frobnicate'/)
    const badFlag = await run(['cluster', '--nodez', '3'])
    expect(badFlag.code).toBe(2)
    expect(badFlag.err).toMatch(/Unknown option '--nodez'/)
    expect((await run(['cluster', '--nodes', 'three'])).err).toMatch(/--nodes must be a non-negative integer/)
    expect((await run(['cluster', '--protocol', 'nope'])).err).toMatch(/unknown protocol 'nope'/)
    expect((await run(['kv', 'put', 'onlykey'])).err).toMatch(/usage: synod kv put KEY VALUE/)
    expect((await run(['start'])).err).toMatch(/start needs --config/)
    expect((await run(['--help'])).code).toBe(0)
  })

  it('synod --version names the version and the protocols; init refuses an unknown protocol and writes nothing', async () => {
    const version = await run(['--version'])
    expect(version.code).toBe(0)
    expect(version.out).toMatch(/^synod \d+\.\d+\.\d+ \(node v\d+[^;]*; protocols: hotstuff, paxos, pbft, raft\)/)
    const dir = join(mkdtempSync(join(tmpdir(), 'synod-cli-proto-')), 'node')
    const init = await run(['init', '--data-dir', dir, '--protocol', 'nope', '--no-auth'])
    expect(init.code).toBe(2)
    expect(init.err).toMatch(/unknown protocol 'nope' \(available: hotstuff, paxos, pbft, raft\)/)
    expect(existsSync(dir)).toBe(false)
  })

  it('init writes a key with mode 0600 and a config; refuses to overwrite an identity', async () => {
    const nodeDir = join(dir, 'n1')
    const result = await run(['init', '--data-dir', nodeDir, '--protocol', 'raft'])
    expect(result.code).toBe(0)
    expect(result.out).toMatch(/node id: +12D3KooW/)
    expect(statSync(join(nodeDir, 'node.key')).mode & 0o777).toBe(0o600)
    const config = JSON.parse(readFileSync(join(nodeDir, 'synod.json'), 'utf8'))
    expect(config.members).toHaveLength(1)
    expect(config.members[0].id).toMatch(/^12D3KooW/)
    const again = await run(['init', '--data-dir', nodeDir])
    expect(again.code).toBe(2)
    expect(again.err).toMatch(/already exists; refusing to overwrite/)
  })

  it('init into an existing 0755 directory makes it 0700 and writes key and config 0600; the log files are 0600 too', async () => {
    const nodeDir = join(dir, 'existing')
    mkdirSync(nodeDir, { mode: 0o755 })
    chmodSync(nodeDir, 0o755)
    const init = await run(['init', '--data-dir', nodeDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0'])
    expect(init.code).toBe(0)
    const mode = (path: string) => statSync(path).mode & 0o777
    expect(mode(nodeDir)).toBe(0o700)
    expect(mode(join(nodeDir, 'node.key'))).toBe(0o600)
    expect(mode(join(nodeDir, 'synod.json'))).toBe(0o600)
    const { raw, baseDir } = readConfigFile(join(nodeDir, 'synod.json'))
    const node = await startNode(validateConfig({ ...raw, logLevel: 'silent' }, baseDir))
    await node.stop()
    const state = join(nodeDir, 'state')
    expect(mode(state)).toBe(0o700)
    const files = readdirSync(state)
    expect(files.some((f) => f.endsWith('.log'))).toBe(true)
    for (const f of files) expect([f, mode(join(state, f))]).toEqual([f, 0o600])
  }, 30_000)

  it('synod cluster prepares node directories 0700 with configs 0600', async () => {
    const root = join(dir, 'cluster')
    const [node] = await prepareCluster(root, 'raft', 1)
    expect(statSync(node!.dataDir).mode & 0o777).toBe(0o700)
    expect(statSync(node!.configFile).mode & 0o777).toBe(0o600)
  })

  it('refuses a key file others can read, and a corrupt key file, naming the file', async () => {
    const nodeDir = join(dir, 'n2')
    await run(['init', '--data-dir', nodeDir])
    const keyFile = join(nodeDir, 'node.key')
    chmodSync(keyFile, 0o644)
    expect(() => readKeyFile(keyFile)).toThrow(/accessible by other users \(mode 644\); run: chmod 600/)
    const start = await run(['start', '--config', join(nodeDir, 'synod.json')])
    expect(start.code).toBe(2)
    expect(start.err).toMatch(/chmod 600/)
    writeFileSync(keyFile, '{"type":"ed25519"}', { mode: 0o600 })
    chmodSync(keyFile, 0o600)
    expect(() => readKeyFile(keyFile)).toThrow(/key file .* is invalid/)
  })

  it('reports an invalid config field and an unreachable endpoint clearly', async () => {
    const file = join(dir, 'bad.json')
    writeFileSync(file, JSON.stringify({ protocol: 'raft', dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/1'], members: 'all' }))
    const bad = await run(['start', '--config', file])
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/configuration error: members:/)
    const down = await run(['kv', 'get', 'k', '--endpoint', '127.0.0.1:1'])
    expect(down.code).toBe(1)
    expect(down.err).toMatch(/cannot reach the node at 127\.0\.0\.1:1 \(connection refused\).*SYNOD_ENDPOINT/)
  })
})

describe('synod start: a data directory in use', () => {
  it('refuses a data directory locked by another running node, saying so', async () => {
    const nodeDir = join(dir, 'locked')
    await run(['init', '--data-dir', nodeDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http', '127.0.0.1:0'])
    const { openDurableStorage } = await import('@synod/storage/node')
    const holder = await openDurableStorage(join(nodeDir, 'state'))
    try {
      const result = await run(['start', '--config', join(nodeDir, 'synod.json')])
      expect(result.code).toBe(1)
      expect(result.err).toMatch(/lock/i)
    } finally {
      await holder.close()
    }
  })
})

describe('synod init --nodes: a static cluster in one step', () => {
  it('writes every node folder (key 0600, config listing all members, dataDir relative) and the cluster starts from them', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'synod-init-nodes-'))
    try {
      const base = 20_000 + Math.floor(Math.random() * 8_000)
      const made = await run(['init', '--nodes', '3', '--out', join(parent, 'c'), '--no-auth', '--p2p-port', String(base), '--http-port', String(base + 100)])
      expect(made.code, made.err).toBe(0)
      expect(made.out).toMatch(/start each: synod start --config/)
      const configs = ['node1', 'node2', 'node3'].map((name) => {
        const dir = join(parent, 'c', name)
        expect(statSync(dir).mode & 0o777).toBe(0o700)
        expect(statSync(join(dir, 'synod.json')).mode & 0o777).toBe(0o600)
        const { raw, baseDir } = readConfigFile(join(dir, 'synod.json'))
        expect((raw as { dataDir: string }).dataDir).toBe('.')
        return validateConfig(raw, baseDir)
      })
      expect(configs.map((c) => c.http)).toEqual([`127.0.0.1:${base + 100}`, `127.0.0.1:${base + 101}`, `127.0.0.1:${base + 102}`])
      expect(configs.every((c) => c.members.length === 3 && c.dataDir.startsWith(join(parent, 'c')))).toBe(true)
      // Started exactly as the printed instructions say (startCluster moves the ports only if one is taken).
      const nodes: ClusterNode[] = configs.map((c, i) => ({ name: `node${i + 1}`, id: c.members[i]!.id, dataDir: c.dataDir, configFile: join(parent, 'c', `node${i + 1}`, 'synod.json'), http: c.http }))
      try {
        await startCluster(nodes, { timeoutMs: 120_000 })
        expect(await waitLeader(nodes, 60_000)).toMatch(/^12D3KooW/)
      } finally {
        await stopNodes(nodes)
      }
      // Again into the same folder: refused, nothing overwritten.
      const key = readFileSync(join(parent, 'c', 'node1', 'node.key'))
      const again = await run(['init', '--nodes', '3', '--out', join(parent, 'c'), '--no-auth'])
      expect(again.code).toBe(2)
      expect(again.err).toMatch(/already holds a node identity/)
      expect(readFileSync(join(parent, 'c', 'node1', 'node.key')).equals(key)).toBe(true)
    } finally {
      rmSync(parent, { recursive: true, force: true })
    }
  }, 240_000)

  it('one node per host gets the base ports on each host; a host list of the wrong length is refused', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'synod-init-hosts-'))
    try {
      const made = await run(['init', '--nodes', '3', '--out', join(parent, 'c'), '--no-auth', '--hosts', '10.0.0.1,10.0.0.2,10.0.0.1', '--protocol', 'pbft'])
      expect(made.code, made.err).toBe(0)
      const { raw, baseDir } = readConfigFile(join(parent, 'c', 'node3', 'synod.json'))
      const config = validateConfig(raw, baseDir)
      expect(config.protocol).toBe('pbft')
      expect(config.members.map((m) => [m.addrs[0], m.http])).toEqual([
        ['/ip4/10.0.0.1/tcp/7001', '10.0.0.1:8001'],
        ['/ip4/10.0.0.2/tcp/7001', '10.0.0.2:8001'],
        ['/ip4/10.0.0.1/tcp/7002', '10.0.0.1:8002'], // the second node on 10.0.0.1 counts up
      ])
      const wrong = await run(['init', '--nodes', '3', '--out', join(parent, 'd'), '--no-auth', '--hosts', '10.0.0.1,10.0.0.2'])
      expect(wrong.code).toBe(2)
      expect(wrong.err).toMatch(/2 hosts for 3 nodes/)
      const named = await run(['init', '--nodes', '1', '--out', join(parent, 'f'), '--no-auth', '--hosts', 'db.example'])
      expect(named.code).toBe(2)
      expect(named.err).toMatch(/'db.example' is not an IPv4 address/)
      expect((await run(['init', '--nodes', '3', '--out', join(parent, 'e'), '--data-dir', 'x'])).code).toBe(2)
    } finally {
      rmSync(parent, { recursive: true, force: true })
    }
  })
})
