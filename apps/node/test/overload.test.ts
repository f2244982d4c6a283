// Issue 15 part 3, "stay up under overload": 64 closed-loop clients spread
// over the 3 real `synod start` processes for 20 s must cause no leader change
// and no 5xx. Overload may be answered with 429 (admission control): counted
// and reported, not failed. Nothing here is timed: the figures are counts, so
// a slow machine makes the run slower, not red.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NodeSynodClient } from '@synod/client/node'
import { runTimedLoad } from '../src/load.js'
import { useLocalCluster } from './local-cluster.js'

// A generous start-up budget: three processes compiling the sources through tsx on a busy 2-core
// machine. The daemons' own defaults otherwise (Raft timing, admission control) except the request
// timeout: 5 s is a latency budget, and on a 2-core machine shared by other jobs (load average 25
// measured) a healthy cluster's p99 reached 6 s; a 504 there would measure the machine, while this
// test is about the leader staying up. Election timing is NOT relaxed: that is what is under test.
const { nodes } = useLocalCluster('raft', 3, 'synod-overload-', { startupMs: 120_000, env: { SYNOD_REQUEST_TIMEOUT_MS: '30000' } })

async function terms(): Promise<Array<{ term: number; leader: unknown }>> {
  return await Promise.all(
    nodes.map(async (node) => {
      const s = await new NodeSynodClient(node.http, { timeoutMs: 30_000 }).status()
      return { term: Number(s.term), leader: s.leader }
    }),
  )
}

describe('a 3-node Raft cluster under 64 clients spread over all nodes', () => {
  it('keeps its leader and answers no 5xx for 20 s (429s allowed and counted)', async () => {
    const before = await terms()
    const leader = before[0]!.leader
    expect(typeof leader).toBe('string')
    expect(before.every((s) => s.leader === leader && s.term === before[0]!.term)).toBe(true)
    const result = await runTimedLoad({ endpoints: nodes.map((n) => n.http), clients: 64, durationMs: 20_000, valueBytes: 100, requestTimeoutMs: 30_000 })
    const after = await terms()
    console.log(
      `overload: ${result.operations} writes in ${result.seconds.toFixed(1)} s (${Math.round(result.opsPerSecond)}/s), ` +
        `p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms, max ${result.maxMs.toFixed(0)} ms; ` +
        `failures ${JSON.stringify(result.failures)}; terms ${before.map((s) => s.term).join('/')} → ${after.map((s) => s.term).join('/')}`,
    )
    for (const [status, example] of Object.entries(result.examples)) console.log(`  e.g. ${status}: ${example}`)
    if (after.some((s, i) => s.term !== before[i]!.term)) {
      // For the post-mortem: each node's role changes and elections, as it logged them.
      for (const node of nodes) {
        const lines = readFileSync(join(node.dataDir, 'node.log'), 'utf8').split('\n').filter((l) => /role change|leader elected/.test(l))
        console.log(`${node.name}:\n  ${lines.slice(-12).join('\n  ')}`)
      }
    }
    // No leader change: every node still names the same leader in the same term.
    expect(after.map((s) => s.term)).toEqual(before.map((s) => s.term))
    expect(after.map((s) => s.leader)).toEqual(before.map(() => leader))
    // No 5xx and no dropped connection; 429 (admission control) is the only allowed refusal.
    expect(Object.keys(result.failures).filter((status) => status !== '429')).toEqual([])
    expect(result.operations).toBeGreaterThan(0)
  }, 120_000)
})
