// `pnpm bench:vs-etcd`: Synod's Raft daemon and etcd side by side on this
// machine, driven by ONE load generator (closed-loop keep-alive HTTP/1.1
// clients; only the request shape differs per system). Starts a 3-member
// etcd (Debian's etcd-server, installed with apt when missing; defaults,
// fsync on) and a 3-node Synod Raft cluster (durable storage, fsync on),
// runs writes, linearizable reads and a 90/10 read/write mix at 1/16/64
// clients against the leader and spread over all members, alternating the
// systems step by step, then prints one table with ratios and writes
// JSON, Markdown and an SVG chart. Outside CI (minutes, needs the machine).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type * as ClusterModule from '../src/cluster.js'
import type { ClusterNode } from '../src/cluster.js'
import { percentile } from '../src/load.js'
import { monotonicMicros, topSelfTimes } from './cpu-profile.js'

// The daemons run from the build (apps/node/dist), as users run them: the package script builds first.
const builtCluster = new URL('../dist/cluster.js', import.meta.url)
if (!existsSync(builtCluster)) throw new Error('apps/node is not built: run `pnpm build` first (pnpm bench:vs-etcd does)')
const { freePort, prepareCluster, sleep, stopNodes, synodCommand, waitLeader, waitReady } = (await import(builtCluster.href)) as typeof ClusterModule

type Mode = 'write' | 'read' | 'mix'
type Target = 'leader' | 'spread'

interface HttpCall {
  readonly method: string
  readonly path: string
  readonly body?: string
  readonly headers?: Record<string, string>
}

/** How one system spells a write and a linearizable read over HTTP. */
interface SystemAdapter {
  readonly name: 'etcd' | 'synod'
  readonly endpoints: readonly string[]
  readonly leader: string
  write(key: string, value: string): HttpCall
  read(key: string): HttpCall
}

interface StepResult {
  readonly system: string
  readonly mode: Mode
  readonly target: Target
  readonly clients: number
  readonly ops: number
  readonly errors: number
  readonly opsPerSecond: number
  readonly p50: number
  readonly p99: number
  /** Leader changes seen during the step (term / raft_term moved). */
  readonly leaderChanges: number
}

const args = parseArgs({
  options: {
    clients: { type: 'string', default: '1,16,64' },
    seconds: { type: 'string', default: '10' },
    modes: { type: 'string', default: 'write,read,mix' },
    targets: { type: 'string', default: 'leader,spread' },
    rounds: { type: 'string', default: '1' },
    out: { type: 'string', default: 'docs/benchmarks' },
    'value-bytes': { type: 'string', default: '100' },
    'keep-data': { type: 'boolean', default: false },
    /** CPU-profile the Synod nodes over the whole run and put a summary (top self time) in the report. */
    profile: { type: 'boolean', default: false },
    /**
     * Instead of the steps: memory after this many writes (comma-separated, e.g. 100000,500000,1000000) on fresh
     * clusters of both systems, 64 clients each against the leader, 1,000 keys overwritten; writes vs-etcd-memory.*.
     */
    memory: { type: 'string' },
  },
})
const clientSteps = args.values.clients!.split(',').map(Number)
const seconds = Number(args.values.seconds)
const modes = args.values.modes!.split(',') as Mode[]
const targets = args.values.targets!.split(',') as Target[]
const rounds = Number(args.values.rounds)
const valueBytes = Number(args.values['value-bytes'])
const outDir = resolve(args.values.out!)
for (const n of [...clientSteps, seconds, rounds, valueBytes]) if (!Number.isSafeInteger(n) || n < 1) throw new Error(`bad numeric flag: ${n}`)
for (const m of modes) if (!['write', 'read', 'mix'].includes(m)) throw new Error(`--modes: unknown mode ${m}`)
for (const t of targets) if (!['leader', 'spread'].includes(t)) throw new Error(`--targets: unknown target ${t}`)

const agent = new Agent({ keepAlive: true, maxSockets: 1024 })
const b64 = (text: string) => Buffer.from(text).toString('base64')

function call(endpoint: string, c: HttpCall, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  const [host, port] = endpoint.split(':')
  return new Promise((resolvePromise, reject) => {
    const req = request(
      { host, port: Number(port), method: c.method, path: c.path, agent, headers: { 'content-type': 'application/json', ...c.headers }, timeout: timeoutMs },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(c.body)
  })
}

// ---------------------------------------------------------------- etcd

function ensureEtcd(): string {
  const found = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p))
  if (found !== undefined) return found
  process.stdout.write('etcd not found: installing Debian etcd-server with apt-get…\n')
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'etcd-server'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  return '/usr/bin/etcd'
}

async function startEtcd(root: string): Promise<{ adapter: SystemAdapter; processes: ChildProcess[]; termOf: () => Promise<number> }> {
  const binary = ensureEtcd()
  const members = await Promise.all([1, 2, 3].map(async (i) => ({ name: `e${i}`, client: await freePort(), peer: await freePort() })))
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
  const processes = members.map((m) =>
    spawn(
      binary,
      [
        `--name=${m.name}`,
        `--data-dir=${join(root, m.name)}`,
        `--listen-client-urls=http://127.0.0.1:${m.client}`,
        `--advertise-client-urls=http://127.0.0.1:${m.client}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        '--log-level=warn',
      ],
      { stdio: 'ignore' },
    ),
  )
  const endpoints = members.map((m) => `127.0.0.1:${m.client}`)
  const status = async (endpoint: string) => JSON.parse((await call(endpoint, { method: 'POST', path: '/v3/maintenance/status', body: '{}' }, 2000)).body) as { header?: { member_id?: string; raft_term?: string }; leader?: string }
  const deadline = Date.now() + 60_000
  let leader: string | undefined
  while (leader === undefined) {
    if (Date.now() > deadline) throw new Error('etcd did not elect a leader within 60 s')
    for (const endpoint of endpoints) {
      const s = await status(endpoint).catch(() => undefined)
      if (s?.leader !== undefined && s.leader === s.header?.member_id) leader = endpoint
    }
    if (leader === undefined) await sleep(200)
  }
  const adapter: SystemAdapter = {
    name: 'etcd',
    endpoints,
    leader,
    write: (key, value) => ({ method: 'POST', path: '/v3/kv/put', body: JSON.stringify({ key: b64(key), value: b64(value) }) }),
    read: (key) => ({ method: 'POST', path: '/v3/kv/range', body: JSON.stringify({ key: b64(key) }) }),
  }
  const termOf = async () => Number((await status(leader!).catch(() => undefined))?.header?.raft_term ?? Number.NaN)
  return { adapter, processes, termOf }
}

// ---------------------------------------------------------------- synod

async function startSynod(root: string): Promise<{ adapter: SystemAdapter; nodes: ClusterNode[]; termOf: () => Promise<number>; leaderName: string }> {
  const nodes = await prepareCluster(root, 'raft', 3)
  for (const node of nodes) {
    // As startNodeProcess does, plus --cpu-prof when profiling (NODE_OPTIONS cannot carry it).
    const profile = args.values.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'profiles', node.name)}`] : []
    const child = spawn(process.execPath, [...profile, ...synodCommand(), 'start', '--config', node.configFile], { stdio: 'ignore', env: { ...process.env, SYNOD_LOG_PRETTY: '0' } })
    node.process = child
    node.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)))
  }
  await waitReady(nodes, 90_000)
  const leaderId = await waitLeader(nodes, 60_000)
  const leader = nodes.find((n) => n.id === leaderId)!.http
  const adapter: SystemAdapter = {
    name: 'synod',
    endpoints: nodes.map((n) => n.http),
    leader,
    write: (key, value) => ({ method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, body: JSON.stringify({ value }) }),
    read: (key) => ({ method: 'GET', path: `/v1/kv/${encodeURIComponent(key)}` }),
  }
  const termOf = async () => {
    const { body } = await call(leader, { method: 'GET', path: '/v1/status' }, 2000).catch(() => ({ body: '{}' }))
    return Number((JSON.parse(body) as { term?: number }).term ?? Number.NaN)
  }
  return { adapter, nodes, termOf, leaderName: nodes.find((n) => n.id === leaderId)!.name }
}

// ---------------------------------------------------------------- the load (identical for both systems)

async function runStep(system: SystemAdapter, mode: Mode, target: Target, clients: number, termOf: () => Promise<number>): Promise<StepResult> {
  const value = 'x'.repeat(valueBytes)
  const endpoints = target === 'leader' ? [system.leader] : system.endpoints
  const latencies: number[] = []
  let errors = 0
  const termBefore = await termOf()
  const stopAt = performance.now() + seconds * 1000
  let counter = 0
  await Promise.all(
    Array.from({ length: clients }, async (_, worker) => {
      const endpoint = endpoints[worker % endpoints.length]!
      while (performance.now() < stopAt) {
        const i = counter++
        const isWrite = mode === 'write' || (mode === 'mix' && i % 10 === 0)
        const key = `bench-${i % 1000}`
        const t = performance.now()
        try {
          const { status } = await call(endpoint, isWrite ? system.write(key, value) : system.read(key))
          if (status >= 200 && status < 300) latencies.push(performance.now() - t)
          else errors++
        } catch {
          errors++
        }
      }
    }),
  )
  const termAfter = await termOf()
  const sorted = latencies.sort((a, b) => a - b)
  return {
    system: system.name,
    mode,
    target,
    clients,
    ops: sorted.length,
    errors,
    opsPerSecond: sorted.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    leaderChanges: Number.isFinite(termBefore) && Number.isFinite(termAfter) ? termAfter - termBefore : -1,
  }
}

// ---------------------------------------------------------------- memory and profiles

/** Resident set size of a process in MB (Linux /proc), NaN when unknown. */
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? Number.NaN : Number(match[1]) / 1024
  } catch {
    return Number.NaN
  }
}

interface ProfileSummary {
  readonly node: string
  readonly role: string
  readonly busyMs: number
  readonly idleMs: number
  readonly top: ReadonlyArray<{ readonly fn: string; readonly where: string; readonly ms: number; readonly share: number }>
}

/** The measured steps, so start-up (module loading) and shutdown stay out of the profile summary. */
const loadWindow = { from: Number.POSITIVE_INFINITY, to: 0 }

/** Top self-time functions of a node's CPU profile (the main thread's: the largest file) inside loadWindow. */
function summarizeProfile(dir: string, node: string, role: string, topN = 15): ProfileSummary | undefined {
  const summary = topSelfTimes(dir, loadWindow, topN)
  return summary === undefined ? undefined : { node, role, ...summary }
}

function profileMarkdown(summaries: readonly ProfileSummary[]): string {
  const parts = ['## Where Synod\'s time goes', '', 'CPU profiles (`node --cpu-prof`) of the Synod nodes during the measured steps (start-up excluded), summarized: the functions with the most self time, as a share of the node\'s busy (non-idle) time.', '']
  for (const s of summaries) {
    parts.push(`### ${s.node} (${s.role}): busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s`, '', '| self time | share | function | where |', '|---:|---:|---|---|')
    for (const t of s.top) parts.push(`| ${t.ms.toFixed(0)} ms | ${(100 * t.share).toFixed(1)}% | \`${t.fn}\` | ${t.where === '' ? '(native)' : `\`${t.where}\``} |`)
    parts.push('')
  }
  return parts.join('\n')
}

// ---------------------------------------------------------------- memory after many writes

interface MemorySample {
  readonly system: 'etcd' | 'synod'
  readonly writes: number
  /** RSS of each member, MB. */
  readonly rssMb: readonly number[]
}

/**
 * Both systems written at once by the same generator (RSS does not depend on sharing the CPU), each by 64
 * closed-loop clients against its leader, until every milestone is passed; the members' RSS at each
 * milestone and every 25,000 writes in between.
 */
async function memoryPhase(milestones: readonly number[]): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'synod-vs-etcd-memory-'))
  const etcd = await startEtcd(join(root, 'etcd'))
  const synod = await startSynod(join(root, 'synod')).catch(async (error: unknown) => {
    for (const p of etcd.processes) p.kill('SIGTERM')
    throw error
  })
  const goal = Math.max(...milestones)
  const samples: MemorySample[] = []
  const errors = { etcd: 0, synod: 0 }
  const value = 'x'.repeat(valueBytes)
  const started = performance.now()
  try {
    const drive = async (system: SystemAdapter, pids: () => Array<number | undefined>) => {
      let issued = 0
      let acknowledged = 0
      let nextSample = 25_000
      const marks = [...milestones].sort((a, b) => a - b)
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (issued < goal) {
            const i = issued++
            try {
              const { status } = await call(system.leader, system.write(`mem-${i % 1000}`, value))
              if (status >= 200 && status < 300) acknowledged++
              else errors[system.name]++
            } catch {
              errors[system.name]++
            }
            const done = acknowledged + errors[system.name]
            if (done >= nextSample || (marks.length > 0 && done >= marks[0]!)) {
              while (marks.length > 0 && done >= marks[0]!) marks.shift()
              nextSample = (Math.floor(done / 25_000) + 1) * 25_000
              const rssMbs = pids().map(rssMb)
              samples.push({ system: system.name, writes: done, rssMb: rssMbs })
              const elapsed = (performance.now() - started) / 1000
              process.stdout.write(`${system.name.padEnd(5)} ${done.toLocaleString('en').padStart(9)} writes (${Math.round(done / elapsed)}/s), RSS ${rssMbs.map((r) => r.toFixed(0)).join(' / ')} MB, ${errors[system.name]} errors\n`)
            }
          }
        }),
      )
    }
    await Promise.all([drive(etcd.adapter, () => etcd.processes.map((p) => p.pid)), drive(synod.adapter, () => synod.nodes.map((n) => n.process?.pid))])
  } finally {
    await stopNodes(synod.nodes)
    for (const p of etcd.processes) p.kill('SIGTERM')
    agent.destroy()
    if (!args.values['keep-data']) rmSync(root, { recursive: true, force: true })
  }
  // The sample at (or first after) each milestone.
  const at = (system: 'etcd' | 'synod', writes: number) => samples.find((s) => s.system === system && s.writes >= writes)
  const rows = milestones.map((m) => {
    const e = at('etcd', m)
    const s = at('synod', m)
    const fmt = (x: MemorySample | undefined) => (x === undefined ? '—' : `${Math.max(...x.rssMb).toFixed(0)} (${x.rssMb.map((r) => r.toFixed(0)).join(' / ')})`)
    const ratio = e === undefined || s === undefined ? '—' : `${(Math.max(...s.rssMb) / Math.max(...e.rssMb)).toFixed(2)}×`
    return `| ${m.toLocaleString('en')} | ${fmt(e)} | ${fmt(s)} | ${ratio} |`
  })
  const table = ['| writes | etcd RSS MB, largest member (each) | Synod RSS MB, largest member (each) | Synod ÷ etcd |', '|---:|---:|---:|---:|', ...rows].join('\n')
  const machine = `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  const stamp = new Date().toISOString()
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'vs-etcd-memory.json'), `${JSON.stringify({ stamp, machine, valueBytes, milestones, errors, samples }, null, 2)}\n`)
  writeFileSync(join(outDir, 'vs-etcd-memory.svg'), memorySvg(samples))
  writeFileSync(
    join(outDir, 'vs-etcd-memory.md'),
    `# Memory after many writes: Synod Raft daemon vs etcd (${stamp})\n\nMachine: ${machine}.\nBoth: 3 members on 127.0.0.1 with their defaults (fsync on; etcd: no auto-compaction, so it keeps every revision; Synod: snapshots and log compaction as configured by default), fresh data folders, ${valueBytes}-byte values to 1,000 keys (each overwritten ${Math.round(goal / 1000).toLocaleString('en')} times), 64 closed-loop clients per system against its leader, both systems written at once by one generator (apps/node/bench/vs-etcd.ts \`--memory\`). RSS from /proc after the milestone's write was acknowledged. Errors: etcd ${errors.etcd}, Synod ${errors.synod}.\n\n${table}\n\n![RSS against writes](vs-etcd-memory.svg)\n`,
  )
  process.stdout.write(`\n${table}\n\nwrote ${join(outDir, 'vs-etcd-memory.md')}, .json and .svg\n`)
}

/** The largest member's RSS against writes, both systems. */
function memorySvg(samples: readonly MemorySample[]): string {
  const w = 640
  const h = 320
  const pad = 56
  const maxWrites = Math.max(1, ...samples.map((s) => s.writes))
  const maxRss = Math.max(1, ...samples.flatMap((s) => s.rssMb.filter(Number.isFinite))) * 1.1
  const x = (writes: number) => pad + (writes / maxWrites) * (w - 2 * pad)
  const y = (mb: number) => h - pad - (mb / maxRss) * (h - 2 * pad)
  const colors = { etcd: '#7a7a7a', synod: '#2f6fd0' }
  const lines = (['etcd', 'synod'] as const).map((system) => {
    const points = samples.filter((s) => s.system === system).map((s) => `${x(s.writes).toFixed(1)},${y(Math.max(...s.rssMb)).toFixed(1)}`)
    return `<polyline fill="none" stroke="${colors[system]}" stroke-width="2" points="${points.join(' ')}"/>`
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad}" y="24" font-size="14" font-weight="bold">RSS of the largest member against writes (MB)</text>
<line x1="${pad}" y1="${h - pad}" x2="${w - pad}" y2="${h - pad}" stroke="#333"/><line x1="${pad}" y1="${pad}" x2="${pad}" y2="${h - pad}" stroke="#333"/>
<text x="${pad - 6}" y="${pad + 4}" font-size="10" text-anchor="end">${Math.round(maxRss)}</text><text x="${pad - 6}" y="${h - pad}" font-size="10" text-anchor="end">0</text>
<text x="${w - pad}" y="${h - pad + 16}" font-size="10" text-anchor="end">${maxWrites.toLocaleString('en')} writes</text>
<rect x="${w - 170}" y="34" width="12" height="12" fill="${colors.etcd}"/><text x="${w - 152}" y="44" font-size="12">etcd</text>
<rect x="${w - 100}" y="34" width="12" height="12" fill="${colors.synod}"/><text x="${w - 82}" y="44" font-size="12">Synod</text>
${lines.join('\n')}
</svg>
`
}

// ---------------------------------------------------------------- report

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

interface Row {
  readonly mode: Mode
  readonly target: Target
  readonly clients: number
  readonly etcd: StepResult[]
  readonly synod: StepResult[]
}

function tableMarkdown(rows: readonly Row[]): string {
  const lines = [
    '| load | target | clients | etcd ops/s (p99 ms) | Synod ops/s (p99 ms) | ratio | Synod errors / leader changes |',
    '|---|---|---:|---:|---:|---:|---|',
  ]
  for (const r of rows) {
    const e = median(r.etcd.map((s) => s.opsPerSecond))
    const s = median(r.synod.map((x) => x.opsPerSecond))
    const fmt = (ops: number, p99: number) => `${Math.round(ops).toLocaleString('en')} (${p99.toFixed(1)})`
    lines.push(
      `| ${r.mode} | ${r.target} | ${r.clients} | ${fmt(e, median(r.etcd.map((x) => x.p99)))} | ${fmt(s, median(r.synod.map((x) => x.p99)))} | ${(s / e).toFixed(2)}× | ${r.synod.map((x) => x.errors).join('/')} / ${r.synod.map((x) => x.leaderChanges).join('/')} |`,
    )
  }
  return lines.join('\n')
}

/** Throughput and p99 against clients, one panel per load, both systems (leader-only rows). */
function chartSvg(rows: readonly Row[]): string {
  const panelW = 300
  const panelH = 200
  const pad = 50
  const panels = modes.flatMap((mode) => [
    { mode, metric: 'opsPerSecond' as const, label: `${mode}: ops/s` },
    { mode, metric: 'p99' as const, label: `${mode}: p99 ms` },
  ])
  const width = 2 * (panelW + pad) + pad
  const height = Math.ceil(panels.length / 2) * (panelH + pad + 20) + 40
  const colors = { etcd: '#7a7a7a', synod: '#2f6fd0' }
  const parts: string[] = []
  panels.forEach((panel, p) => {
    const ox = pad + (p % 2) * (panelW + pad)
    const oy = 50 + Math.floor(p / 2) * (panelH + pad + 20)
    const data = rows.filter((r) => r.mode === panel.mode && r.target === 'leader')
    const values = data.flatMap((r) => [...r.etcd, ...r.synod].map((s) => s[panel.metric])).filter(Number.isFinite)
    const max = Math.max(1, ...values) * 1.1
    const x = (i: number) => ox + (data.length <= 1 ? panelW / 2 : (i / (data.length - 1)) * panelW)
    const y = (v: number) => oy + panelH - (v / max) * panelH
    parts.push(`<text x="${ox}" y="${oy - 10}" font-size="13" font-weight="bold">${panel.label}</text>`)
    parts.push(`<line x1="${ox}" y1="${oy + panelH}" x2="${ox + panelW}" y2="${oy + panelH}" stroke="#333"/><line x1="${ox}" y1="${oy}" x2="${ox}" y2="${oy + panelH}" stroke="#333"/>`)
    parts.push(`<text x="${ox - 6}" y="${oy + 4}" font-size="10" text-anchor="end">${Math.round(max)}</text><text x="${ox - 6}" y="${oy + panelH}" font-size="10" text-anchor="end">0</text>`)
    data.forEach((r, i) => parts.push(`<text x="${x(i)}" y="${oy + panelH + 14}" font-size="10" text-anchor="middle">${r.clients}</text>`))
    for (const system of ['etcd', 'synod'] as const) {
      const points = data.map((r, i) => `${x(i).toFixed(1)},${y(median(r[system].map((s) => s[panel.metric]))).toFixed(1)}`)
      parts.push(`<polyline fill="none" stroke="${colors[system]}" stroke-width="2" points="${points.join(' ')}"/>`)
      for (const point of points) parts.push(`<circle cx="${point.split(',')[0]}" cy="${point.split(',')[1]}" r="3" fill="${colors[system]}"/>`)
    }
    parts.push(`<text x="${ox + panelW / 2}" y="${oy + panelH + 28}" font-size="10" text-anchor="middle">clients</text>`)
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad}" y="24" font-size="15" font-weight="bold">Synod Raft daemon vs etcd, 3 members each, same machine, same load generator (leader)</text>
<rect x="${width - 170}" y="30" width="12" height="12" fill="${colors.etcd}"/><text x="${width - 152}" y="40" font-size="12">etcd</text>
<rect x="${width - 100}" y="30" width="12" height="12" fill="${colors.synod}"/><text x="${width - 82}" y="40" font-size="12">Synod</text>
${parts.join('\n')}
</svg>
`
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'synod-vs-etcd-'))
  const etcd = await startEtcd(join(root, 'etcd'))
  const synod = await startSynod(join(root, 'synod')).catch(async (error: unknown) => {
    for (const p of etcd.processes) p.kill('SIGTERM')
    throw error
  })
  const rows: Row[] = []
  const rss = { etcd: [] as number[], synod: [] as number[] }
  const sampleRss = () => {
    for (const p of etcd.processes) rss.etcd.push(rssMb(p.pid))
    for (const n of synod.nodes) rss.synod.push(rssMb(n.process?.pid))
  }
  let profiles: ProfileSummary[] = []
  try {
    const total = rounds * modes.length * targets.length * clientSteps.length * 2
    let done = 0
    for (const mode of modes)
      for (const target of targets)
        for (const clients of clientSteps) {
          const row: Row = { mode, target, clients, etcd: [], synod: [] }
          for (let round = 0; round < rounds; round++) {
            // Alternate which system goes first, so slow drift of the machine is shared.
            const order = round % 2 === 0 ? [etcd, synod] : [synod, etcd]
            for (const system of order) {
              loadWindow.from = Math.min(loadWindow.from, monotonicMicros())
              const result = await runStep(system.adapter, mode, target, clients, system.termOf)
              row[system.adapter.name].push(result)
              loadWindow.to = monotonicMicros()
              done++
              sampleRss()
              process.stdout.write(
                `[${done}/${total}] ${system.adapter.name.padEnd(5)} ${mode.padEnd(5)} ${target.padEnd(6)} ${String(clients).padStart(3)} clients: ${Math.round(result.opsPerSecond)} ops/s, p99 ${result.p99.toFixed(1)} ms, ${result.errors} errors, ${result.leaderChanges} leader changes\n`,
              )
            }
          }
          rows.push(row)
        }
  } finally {
    await stopNodes(synod.nodes)
    for (const p of etcd.processes) p.kill('SIGTERM')
    agent.destroy()
    if (args.values.profile)
      profiles = synod.nodes
        .map((n) => summarizeProfile(join(root, 'synod', 'profiles', n.name), n.name, n.name === synod.leaderName ? 'leader' : 'follower'))
        .filter((p): p is ProfileSummary => p !== undefined)
    if (!args.values['keep-data']) rmSync(root, { recursive: true, force: true })
  }
  const machine = `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  const table = tableMarkdown(rows)
  const maxOf = (values: number[]) => Math.max(...values.filter(Number.isFinite))
  const memory = `Peak RSS per member, sampled after every step: etcd ${maxOf(rss.etcd).toFixed(0)} MB, Synod ${maxOf(rss.synod).toFixed(0)} MB.`
  mkdirSync(outDir, { recursive: true })
  const stamp = new Date().toISOString()
  writeFileSync(join(outDir, 'vs-etcd.json'), `${JSON.stringify({ stamp, machine, seconds, valueBytes, rounds, rows, rssMb: rss, profiles }, null, 2)}\n`)
  writeFileSync(join(outDir, 'vs-etcd.svg'), chartSvg(rows))
  writeFileSync(
    join(outDir, 'vs-etcd.md'),
    `# Synod Raft daemon vs etcd (${stamp})\n\nMachine: ${machine}.\nBoth: 3 members on 127.0.0.1, fsync on, ${valueBytes}-byte values, closed-loop keep-alive HTTP/1.1 clients from one generator (apps/node/bench/vs-etcd.ts), ${seconds} s per step, ${rounds} round(s) per cell alternating which system goes first; medians per cell. etcd: Debian's etcd-server, JSON gateway \`/v3/kv/put\` and \`/v3/kv/range\` (linearizable). Synod: \`PUT /v1/kv/{key}\`, \`GET /v1/kv/{key}\` (linearizable).\n\n${table}\n\n${memory}\n\n![chart](vs-etcd.svg)\n${profiles.length === 0 ? '' : `\n${profileMarkdown(profiles)}`}`,
  )
  process.stdout.write(`\n${table}\n\n${memory}\n\nwrote ${join(outDir, 'vs-etcd.md')}, .json and .svg\n`)
}

if (args.values.memory !== undefined) {
  const milestones = args.values.memory.split(',').map(Number)
  for (const m of milestones) if (!Number.isSafeInteger(m) || m < 1) throw new Error(`--memory: bad write count ${m}`)
  await memoryPhase(milestones)
} else await main()
