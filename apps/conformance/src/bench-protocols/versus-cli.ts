#!/usr/bin/env node
// Same-run ratios on the wall-clock bench (`measureWallClock`): rounds run every protocol in turn in
// one process (the order rotating per round), so a busy machine loads them alike; each protocol is
// reported as the median of its per-round ratios to the last one listed (writes/s, CPU µs per write).
//   node --conditions=@synod/source --import tsx apps/conformance/src/bench-protocols/versus-cli.ts \
//     --protocols paxos,raft --nodes 3,5 --rounds 6
// An entry `label=path/to/module.ts` measures the first ProtocolFactory that module exports (e.g. an
// older build of a package, to compare before and after in the same run).
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'
import type { ProtocolFactory } from '@synod/core'
import { isProtocolFactory } from '@synod/core/node'
import { protocolRegistry } from '../registry.js'
import { measureWallClock } from './wall-clock.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name)
  return at === -1 ? fallback : args[at + 1]!
}
const entries = option('--protocols', 'paxos,raft').split(',')
const sizes = option('--nodes', '3,5').split(',').map(Number)
const rounds = Number(option('--rounds', '6'))
const clients = Number(option('--clients', '256'))
const measureMs = Number(option('--measure-ms', '2000'))

async function load(entry: string): Promise<{ label: string; factory: ProtocolFactory<unknown> }> {
  const at = entry.indexOf('=')
  if (at === -1) return { label: entry, factory: await protocolRegistry.get(entry)!() }
  const module = (await import(pathToFileURL(resolve(entry.slice(at + 1))).href)) as Record<string, unknown>
  const factory = Object.values(module).find(isProtocolFactory)
  if (factory === undefined) throw new Error(`${entry}: no ProtocolFactory exported`)
  return { label: entry.slice(0, at), factory: factory as ProtocolFactory<unknown> }
}

const protocols = await Promise.all(entries.map(load))
const base = protocols.at(-1)!
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const nodes of sizes) {
  const ops = new Map(protocols.map((p) => [p.label, [] as number[]]))
  const cpu = new Map(protocols.map((p) => [p.label, [] as number[]]))
  for (let round = 0; round < rounds; round++) {
    const order = protocols.map((_, i) => protocols[(i + round) % protocols.length]!)
    const figures = new Map<string, { opsPerSecond: number; cpuMicrosPerOp: number }>()
    for (const p of order) figures.set(p.label, await measureWallClock({ factory: p.factory, nodes, clients, warmupMs: 500, measureMs }))
    const b = figures.get(base.label)!
    const line: string[] = []
    for (const p of protocols) {
      const f = figures.get(p.label)!
      ops.get(p.label)!.push(f.opsPerSecond / b.opsPerSecond)
      cpu.get(p.label)!.push(f.cpuMicrosPerOp / b.cpuMicrosPerOp)
      line.push(`${p.label} ${f.opsPerSecond.toFixed(0)} w/s ${f.cpuMicrosPerOp.toFixed(0)} µs`)
    }
    process.stdout.write(`n=${nodes} round ${round + 1}: ${line.join(', ')}\n`)
  }
  for (const p of protocols.slice(0, -1)) {
    const o = ops.get(p.label)!
    process.stdout.write(
      `n=${nodes}: ${p.label} ÷ ${base.label} writes/s median ${median(o).toFixed(2)} (${Math.min(...o).toFixed(2)}–${Math.max(...o).toFixed(2)}), CPU per write median ${median(cpu.get(p.label)!).toFixed(2)}\n`,
    )
  }
}
