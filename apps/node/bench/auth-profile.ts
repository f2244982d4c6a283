// Where authentication's cost goes: two 3-node Raft clusters of the same build (authentication off /
// on with HTTP sessions), the nodes under `node --cpu-prof`, the same write load against each, then
// the self time per function per write in each mode and the difference — the functions that the
// "on" mode adds or makes slower, largest first. A diagnostic for issue 13's 10% target.
//
//   node --conditions=@synod/source --import tsx apps/node/bench/auth-profile.ts [--ops N] [--clients N] [--top N]
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { clientIdOf } from '@synod/core'
import { createSigner, generateKeyPair } from '@synod/crypto'
import { type ClusterNode, prepareCluster, stopNodes, synodCommand, waitLeader, waitReady } from '../src/cluster.js'
import type { ClientCredentials } from '@synod/client'
import { runLoad } from '../src/load.js'
import { mainThreadProfile, monotonicMicros, selfTimes } from './cpu-profile.js'

const { values } = parseArgs({ options: { ops: { type: 'string' }, clients: { type: 'string' }, top: { type: 'string' }, keep: { type: 'boolean' }, 'leader-only': { type: 'boolean' } } })
const operations = Number(values.ops ?? 20_000)
const clients = Number(values.clients ?? 16)
const topN = Number(values.top ?? 25)

async function start(root: string, admins: string[] | undefined, credentials: ClientCredentials): Promise<string[]> {
  const nodes = await prepareCluster(root, 'raft', 3, {}, admins === undefined ? {} : { admins })
  for (const node of nodes) {
    const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${join(root, 'profiles', node.name)}`, ...synodCommand(), 'start', '--config', node.configFile], {
      stdio: 'ignore',
      env: { ...process.env, SYNOD_LOG_PRETTY: '0' },
    })
    node.process = child
    node.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)))
  }
  await waitReady(nodes, 90_000, credentials)
  const leader = await waitLeader(nodes, 60_000, credentials)
  started = nodes
  // --leader-only: every client writes to the leader (no forwarding); else clients spread over all nodes.
  return values['leader-only'] ? [nodes.find((n) => n.id === leader)!.http] : nodes.map((n) => n.http)
}
let started: ClusterNode[] = []

/** Self time (µs) per function over the window, summed over every node's main-thread profile. */
function nodesSelfTimes(root: string, window: { from: number; to: number }): { self: Map<string, number>; busy: number } {
  const self = new Map<string, number>()
  let busy = 0
  for (const name of readdirSync(join(root, 'profiles'))) {
    const file = mainThreadProfile(join(root, 'profiles', name))
    if (file === undefined) continue
    const one = selfTimes(file, window)
    busy += one.busyUs
    for (const [key, us] of one.self) self.set(key.replace('\u0000', ' '), (self.get(key.replace('\u0000', ' ')) ?? 0) + us)
  }
  return { self, busy }
}

const admin = generateKeyPair()
const modes = [
  { name: 'off', admins: undefined, credentials: undefined },
  { name: 'on', admins: [clientIdOf(admin.publicKey)], credentials: { signer: createSigner(admin.secretKey) } as ClientCredentials },
] as const
const results: Array<{ name: string; self: Map<string, number>; busy: number; ops: number; opsPerSecond: number; clientCpuUs: number; clientSelf: Map<string, number> }> = []
// The load generator (this process) is profiled too: the client's share of the difference.
const inspector = new Session()
inspector.connect()
await inspector.post('Profiler.enable')
for (const mode of modes) {
  const root = mkdtempSync(join(tmpdir(), `synod-auth-profile-${mode.name}-`))
  const signing: ClientCredentials = mode.credentials === undefined ? {} : { signer: mode.credentials.signer!, sessions: false }
  const endpoints = await start(root, mode.admins ? [...mode.admins] : undefined, signing)
  // Warm-up (JIT, sessions), outside the window.
  await runLoad({ endpoints, clients, operations: Math.min(3000, operations), valueBytes: 100, ...(mode.credentials ? { credentials: mode.credentials } : {}) })
  await inspector.post('Profiler.start')
  const cpu0 = process.cpuUsage()
  const from = monotonicMicros()
  const result = await runLoad({ endpoints, clients, operations, valueBytes: 100, ...(mode.credentials ? { credentials: mode.credentials } : {}) })
  const to = monotonicMicros()
  const cpu1 = process.cpuUsage(cpu0)
  const { profile } = await inspector.post('Profiler.stop')
  const clientProfile = join(root, 'client.cpuprofile')
  writeFileSync(clientProfile, JSON.stringify(profile))
  const clientSelf = new Map([...selfTimes(clientProfile, { from: 0, to: Number.MAX_SAFE_INTEGER }).self].map(([k, us]) => [k.replace('\u0000', ' '), us]))
  await stopNodes(started)
  const { self, busy } = nodesSelfTimes(root, { from, to })
  results.push({ name: mode.name, self, busy, ops: result.operations, opsPerSecond: result.opsPerSecond, clientCpuUs: (cpu1.user + cpu1.system) / result.operations, clientSelf })
  console.log(`${mode.name}: ${result.operations} writes, ${Math.round(result.opsPerSecond)} ops/s, node busy ${(busy / result.operations).toFixed(0)} µs/write, client ${((cpu1.user + cpu1.system) / result.operations).toFixed(0)} µs/write`)
  if (values.keep) console.log(`  profiles in ${root}/profiles`)
  else rmSync(root, { recursive: true, force: true })
}
const [off, on] = results as [(typeof results)[0], (typeof results)[0]]
const keys = new Set([...off.self.keys(), ...on.self.keys()])
const diff = [...keys]
  .map((k) => ({ k, off: (off.self.get(k) ?? 0) / off.ops, on: (on.self.get(k) ?? 0) / on.ops }))
  .map((d) => ({ ...d, delta: d.on - d.off }))
  .sort((a, b) => b.delta - a.delta)
console.log(`\nnodes' busy time per write: off ${(off.busy / off.ops).toFixed(1)} µs, on ${(on.busy / on.ops).toFixed(1)} µs (+${((on.busy / on.ops) - (off.busy / off.ops)).toFixed(1)})`)
console.log(`client CPU per write: off ${off.clientCpuUs.toFixed(1)} µs, on ${on.clientCpuUs.toFixed(1)} µs`)
console.log('\nself time µs/write (sum of the 3 nodes)   off      on   delta')
for (const d of diff.slice(0, topN)) console.log(`${d.k.slice(0, 90).padEnd(90)} ${d.off.toFixed(1).padStart(7)} ${d.on.toFixed(1).padStart(7)} ${d.delta.toFixed(1).padStart(7)}`)
console.log('\nlargest decreases:')
for (const d of diff.slice(-8)) console.log(`${d.k.slice(0, 90).padEnd(90)} ${d.off.toFixed(1).padStart(7)} ${d.on.toFixed(1).padStart(7)} ${d.delta.toFixed(1).padStart(7)}`)

const clientKeys = new Set([...off.clientSelf.keys(), ...on.clientSelf.keys()])
const clientDiff = [...clientKeys]
  .map((k) => ({ k, off: (off.clientSelf.get(k) ?? 0) / off.ops, on: (on.clientSelf.get(k) ?? 0) / on.ops }))
  .map((d) => ({ ...d, delta: d.on - d.off }))
  .sort((a, b) => b.delta - a.delta)
console.log('\nclient (load generator) self time µs/write                off      on   delta')
for (const d of clientDiff.slice(0, topN)) console.log(`${d.k.slice(0, 90).padEnd(90)} ${d.off.toFixed(1).padStart(7)} ${d.on.toFixed(1).padStart(7)} ${d.delta.toFixed(1).padStart(7)}`)
