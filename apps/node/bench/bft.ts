// `pnpm bench:bft`: the byzantine daemons under write load — PBFT and
// HotStuff, 4 nodes on 127.0.0.1, authentication on, every client request
// signed (what a byzantine cluster needs: each replica checks the client
// itself). Closed-loop clients (1 / 16 / 64) for a fixed time per step; the
// figure issue 15 sets is ≥ 10k writes/s at 64 clients. Reports writes/s,
// p50/p99, errors, the CPU time per write (nodes from /proc, the generator
// from process.cpuUsage) and, with --profile, where each node's time goes
// (`node --cpu-prof`, self time per function inside the measured steps).
// Writes JSON and Markdown; outside CI (minutes, needs the machine).
import { spawn } from 'node:child_process'
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { clientIdOf } from '@synod/core'
import { createSigner, generateKeyPair } from '@synod/crypto'
import type { ClientCredentials } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import type * as ClusterModule from '../src/cluster.js'
import type { ClusterNode } from '../src/cluster.js'
import { percentile } from '../src/load.js'
import { monotonicMicros, topSelfTimes } from './cpu-profile.js'

const builtCluster = new URL('../dist/cluster.js', import.meta.url)
if (!existsSync(builtCluster)) throw new Error('apps/node is not built: run `pnpm build` first (pnpm bench:bft does)')
const { prepareCluster, sleep, stopNodes, synodCommand, waitLeader, waitReady } = (await import(builtCluster.href)) as typeof ClusterModule

const args = parseArgs({
  options: {
    /** `pbft:mac` is PBFT with request bundles MAC-authenticated (ADR 0003's `requestAuthentication: 'mac'`). */
    protocols: { type: 'string', default: 'pbft,pbft:mac,hotstuff' },
    nodes: { type: 'string', default: '4' },
    clients: { type: 'string', default: '1,16,64' },
    seconds: { type: 'string', default: '10' },
    'value-bytes': { type: 'string', default: '100' },
    out: { type: 'string', default: 'docs/benchmarks' },
    profile: { type: 'boolean', default: false },
  },
})
const protocols = args.values.protocols!.split(',')
const n = Number(args.values.nodes)
const clientSteps = args.values.clients!.split(',').map(Number)
const seconds = Number(args.values.seconds)
const valueBytes = Number(args.values['value-bytes'])
const outDir = resolve(args.values.out!)
for (const v of [n, ...clientSteps, seconds, valueBytes]) if (!Number.isSafeInteger(v) || v < 1) throw new Error(`bad numeric flag: ${v}`)
for (const p of protocols) if (!['pbft', 'pbft:mac', 'hotstuff'].includes(p)) throw new Error(`--protocols: ${p} is not one of pbft, pbft:mac, hotstuff`)

interface Step {
  readonly protocol: string
  readonly clients: number
  readonly ops: number
  readonly errors: number
  readonly errorKinds: Record<string, number>
  readonly opsPerSecond: number
  readonly p50: number
  readonly p99: number
  /** CPU µs per acknowledged write: all nodes together (main thread and workers), and the load generator. */
  readonly nodeCpuUsPerWrite: number
  /** The part of nodeCpuUsPerWrite spent in the kernel (system time: syscalls, fsync, the loopback TCP path). */
  readonly nodeSystemUsPerWrite: number
  readonly clientCpuUsPerWrite: number
}

/** User and system CPU time of a process in µs (Linux /proc; clock ticks of 10 ms), NaN when unknown. */
function processCpuUs(pid: number | undefined): { user: number; system: number } {
  if (pid === undefined) return { user: Number.NaN, system: Number.NaN }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: Number(fields[11]) * 10_000, system: Number(fields[12]) * 10_000 }
  } catch {
    return { user: Number.NaN, system: Number.NaN }
  }
}

function nodesCpuUs(nodes: readonly ClusterNode[]): { user: number; system: number } {
  let user = 0
  let system = 0
  for (const node of nodes) {
    const one = processCpuUs(node.process?.pid)
    user += one.user
    system += one.system
  }
  return { user, system }
}

async function startCluster(root: string, protocol: string, adminId: string): Promise<ClusterNode[]> {
  const [name, variant] = protocol.split(':') as [string, string | undefined]
  const nodes = await prepareCluster(root, name, n, variant === 'mac' ? { requestAuthentication: 'mac' } : {}, { admins: [adminId] })
  for (const node of nodes) {
    const profile = args.values.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(root, 'profiles', node.name)}`] : []
    const log = createWriteStream(join(node.dataDir, 'node.log'), { flags: 'a' })
    const child = spawn(process.execPath, [...profile, ...synodCommand(), 'start', '--config', node.configFile], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYNOD_LOG_PRETTY: '0' } })
    child.stdout.pipe(log)
    child.stderr.pipe(log)
    node.process = child
    node.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)))
  }
  return nodes
}

async function runStep(protocol: string, nodes: readonly ClusterNode[], clients: number, credentials: ClientCredentials): Promise<Step> {
  const value = 'x'.repeat(valueBytes)
  const latencies: number[] = []
  const errorKinds: Record<string, number> = {}
  let errors = 0
  let counter = 0
  // One client per worker, spread over the nodes (a byzantine client talks to any replica), each its own exactly-once session.
  const workers = Array.from({ length: clients }, (_, worker) => new NodeSynodClient(nodes[worker % nodes.length]!.http, { timeoutMs: 10_000, ...credentials, session: worker + 1, retry: { attempts: 1 } }))
  const nodeCpuBefore = nodesCpuUs(nodes)
  const clientCpuBefore = process.cpuUsage()
  const stopAt = performance.now() + seconds * 1000
  await Promise.all(
    workers.map(async (client) => {
      while (performance.now() < stopAt) {
        const key = `bench-${counter++ % 1000}`
        const t = performance.now()
        try {
          await client.put(key, value)
          latencies.push(performance.now() - t)
        } catch (error) {
          errors++
          const e = error as { status?: number; body?: { error?: unknown }; message?: string }
          const kind = e.status !== undefined ? `${e.status} ${String(e.body?.error)}` : String(e.message).slice(0, 40)
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
        }
      }
    }),
  )
  const clientCpu = process.cpuUsage(clientCpuBefore)
  const nodeCpuAfter = nodesCpuUs(nodes)
  const nodeSystem = nodeCpuAfter.system - nodeCpuBefore.system
  const nodeCpu = nodeCpuAfter.user - nodeCpuBefore.user + nodeSystem
  const sorted = latencies.sort((a, b) => a - b)
  const ops = sorted.length
  return {
    protocol,
    clients,
    ops,
    errors,
    errorKinds,
    opsPerSecond: ops / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    nodeCpuUsPerWrite: nodeCpu / Math.max(1, ops),
    nodeSystemUsPerWrite: nodeSystem / Math.max(1, ops),
    clientCpuUsPerWrite: (clientCpu.user + clientCpu.system) / Math.max(1, ops),
  }
}

interface ProfileSummary {
  readonly protocol: string
  readonly node: string
  readonly role: string
  readonly busyMs: number
  readonly idleMs: number
  readonly top: ReadonlyArray<{ readonly fn: string; readonly where: string; readonly ms: number; readonly share: number }>
}

function summarize(dir: string, protocol: string, node: string, role: string, window: { from: number; to: number }): ProfileSummary | undefined {
  const summary = topSelfTimes(dir, window)
  return summary === undefined ? undefined : { protocol, node, role, ...summary }
}

async function main(): Promise<void> {
  const admin = generateKeyPair()
  const credentials: ClientCredentials = { signer: createSigner(admin.secretKey), sessions: false }
  const steps: Step[] = []
  const profiles: ProfileSummary[] = []
  const total = protocols.length * clientSteps.length
  let done = 0
  for (const protocol of protocols) {
    const root = mkdtempSync(join(tmpdir(), `synod-bench-${protocol.replace(':', '-')}-`))
    const nodes = await startCluster(root, protocol, clientIdOf(admin.publicKey))
    const window = { from: Number.POSITIVE_INFINITY, to: 0 }
    let leaderName = ''
    try {
      await waitReady(nodes, 120_000, credentials)
      const leaderId = await waitLeader(nodes, 60_000, credentials)
      leaderName = nodes.find((node) => node.id === leaderId)?.name ?? ''
      // A warm-up the report leaves out: the first writes of a fresh cluster run at a fraction of the later rate.
      await runStep(protocol, nodes, 4, credentials)
      for (const clients of clientSteps) {
        window.from = Math.min(window.from, monotonicMicros())
        const step = await runStep(protocol, nodes, clients, credentials)
        window.to = monotonicMicros()
        steps.push(step)
        done++
        process.stdout.write(
          `[${done}/${total}] ${protocol.padEnd(8)} ${String(clients).padStart(3)} clients: ${Math.round(step.opsPerSecond)} writes/s, p50 ${step.p50.toFixed(1)} ms, p99 ${step.p99.toFixed(1)} ms, ${step.errors} errors, CPU per write ${Math.round(step.nodeCpuUsPerWrite)} µs (nodes; ${Math.round(step.nodeSystemUsPerWrite)} in the kernel) + ${Math.round(step.clientCpuUsPerWrite)} µs (clients)\n`,
        )
        await sleep(500)
      }
    } finally {
      await stopNodes(nodes)
      if (args.values.profile)
        for (const node of nodes) {
          const summary = summarize(join(root, 'profiles', node.name), protocol, node.name, node.name === leaderName ? 'leader/primary at the start' : 'replica', window)
          if (summary !== undefined) profiles.push(summary)
        }
      rmSync(root, { recursive: true, force: true })
    }
  }
  const machine = `${cpus().length} vCPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' ')}`
  const stamp = new Date().toISOString()
  const table = [
    '| protocol | clients | writes/s | p50 ms | p99 ms | errors | CPU µs per write: nodes (of it in the kernel) + generator |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...steps.map(
      (s) =>
        `| ${s.protocol} | ${s.clients} | ${Math.round(s.opsPerSecond).toLocaleString('en')} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.errors}${s.errors === 0 ? '' : ` (${Object.entries(s.errorKinds).map(([k, v]) => `${k}: ${v}`).join(', ')})`} | ${Math.round(s.nodeCpuUsPerWrite).toLocaleString('en')} (${Math.round(s.nodeSystemUsPerWrite).toLocaleString('en')}) + ${Math.round(s.clientCpuUsPerWrite).toLocaleString('en')} |`,
    ),
  ].join('\n')
  const target = steps
    .filter((s) => s.clients === Math.max(...clientSteps))
    .map((s) => `${s.protocol} ${Math.round(s.opsPerSecond).toLocaleString('en')} writes/s at ${s.clients} clients (${(s.opsPerSecond / 10_000).toFixed(3)}× the 10k target; at the CPU cost per write measured, 10k writes/s would need ${(((s.nodeCpuUsPerWrite + s.clientCpuUsPerWrite) * 10_000) / 1e6).toFixed(1)} CPU-seconds per second, this machine has ${cpus().length})`)
    .join('; ')
  const profileParts = profiles.flatMap((s) => [
    `### ${s.protocol} ${s.node} (${s.role}): busy ${(s.busyMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s`,
    '',
    '| self time | share | function | where |',
    '|---:|---:|---|---|',
    ...s.top.map((t) => `| ${t.ms.toFixed(0)} ms | ${(100 * t.share).toFixed(1)}% | \`${t.fn}\` | ${t.where === '' ? '(native)' : `\`${t.where}\``} |`),
    '',
  ])
  mkdirSync(outDir, { recursive: true })
  writeFileSync(join(outDir, 'bft.json'), `${JSON.stringify({ stamp, machine, nodes: n, seconds, valueBytes, steps, profiles }, null, 2)}\n`)
  writeFileSync(
    join(outDir, 'bft.md'),
    `# Byzantine daemons under write load (${stamp})\n\nMachine: ${machine}.\n${n} nodes per protocol on 127.0.0.1, durable storage (fsync on), authentication on, every request signed by the client (ed25519; the replicas verify it; \`pbft:mac\` is PBFT with the proxies' request bundles MAC-authenticated, ADR 0003 — the client's own signature is still checked by every replica), ${valueBytes}-byte values, closed-loop keep-alive clients spread over all nodes from one generator in the same machine (apps/node/bench/bft.ts), ${seconds} s per step after an unmeasured warm-up. The clients do not verify reply certificates here (a verifying client adds f + 1 signature checks per answer to the generator's CPU).\n\n${table}\n\nIssue 15's target: ≥ 10k writes/s at 64 clients. Measured: ${target}.\n${profileParts.length === 0 ? '' : `\n## Where the time goes\n\nCPU profiles (\`node --cpu-prof\`, main thread) of every node during the measured steps: the functions with the most self time, as a share of the node's busy time.\n\n${profileParts.join('\n')}`}`,
  )
  process.stdout.write(`\n${table}\n\n${target}\n\nwrote ${join(outDir, 'bft.md')} and .json\n`)
}

await main()
