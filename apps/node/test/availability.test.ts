// Honest status codes when members die (issue 13.7), with real processes: a
// follower whose leader is gone answers 503 with the leader hint (not 500), and
// a node without a quorum answers 503 NO_QUORUM and is not ready.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type ClusterNode, sleep, waitLeader } from '../src/cluster.js'
import { useLocalCluster } from './local-cluster.js'

// Election timeout 1 s: a follower keeps naming a killed leader for at least that long.
const cluster = useLocalCluster('raft', 3, 'synod-availability-', { protocolOptions: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 } })

async function request(node: ClusterNode, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://${node.http}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  })
  const text = await res.text()
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : { text } }
}

async function kill(node: ClusterNode): Promise<void> {
  node.process!.kill('SIGKILL')
  await node.exited
}

function errorLines(node: ClusterNode): string[] {
  return readFileSync(join(node.dataDir, 'node.log'), 'utf8')
    .split('\n')
    .filter((line) => line.includes('"level":50') || line.includes('"level":60'))
}

describe('status codes when members fail (real processes)', () => {
  it('kill the leader: a follower answers 503 with leaderHint; stop 2 of 3: 503 NO_QUORUM and readyz 503; no error logs', async () => {
    const nodes = cluster.nodes
    const leaderId = await waitLeader(nodes, 30_000)
    const leader = nodes.find((n) => n.id === leaderId)!
    const followers = nodes.filter((n) => n !== leader)
    for (let i = 0; ; i++) {
      const put = await request(leader, 'PUT', '/v1/kv/k', { value: 'v' })
      if (put.status === 200) break
      expect(i).toBeLessThan(50)
      await sleep(100)
    }

    await kill(leader)
    // Before it campaigns the follower still names the dead leader: its read index request gets no answer within
    // an election timeout, and the HTTP forward to that leader (the fallback) gets none either.
    const read = await request(followers[0]!, 'GET', '/v1/kv/k')
    expect(read).toMatchObject({ status: 503, body: { error: 'LEADER_UNREACHABLE', leaderHint: leaderId } })

    let newLeaderId = leaderId
    for (let i = 0; newLeaderId === leaderId; i++) {
      expect(i).toBeLessThan(300)
      newLeaderId = await waitLeader(followers, 30_000)
      if (newLeaderId === leaderId) await sleep(100)
    }
    const survivor = followers.find((n) => n.id !== newLeaderId)!
    await kill(followers.find((n) => n.id === newLeaderId)!)

    // Writes time out (504) while the survivor still trusts its dead leader; then, with no quorum, 503 NO_QUORUM.
    const deadline = Date.now() + 60_000
    let write = await request(survivor, 'PUT', '/v1/kv/k', { value: 'w' })
    while (write.body.error !== 'NO_QUORUM' && Date.now() < deadline) {
      expect([503, 504]).toContain(write.status)
      await sleep(200)
      write = await request(survivor, 'PUT', '/v1/kv/k', { value: 'w' })
    }
    expect(write).toMatchObject({ status: 503, body: { error: 'NO_QUORUM', reachable: 1, voters: 3, needed: 2 } })
    expect(write.body.message).not.toMatch(/retry shortly/)
    expect(await request(survivor, 'GET', '/v1/kv/k')).toMatchObject({ status: 503, body: { error: 'NO_QUORUM' } })
    expect(await request(survivor, 'GET', '/readyz')).toMatchObject({ status: 503, body: { ready: false } })
    // Stale reads still answer from the local state.
    expect(await request(survivor, 'GET', '/v1/kv/k?consistency=stale')).toMatchObject({ status: 200, body: { value: 'v' } })
    for (const node of followers) expect(errorLines(node)).toEqual([])
  }, 120_000)
})
