// Watches and leases on a real 4-node PBFT cluster (authentication off, so the primary's own expiry
// proposal is ordered; ADR 0015): a watcher on a backup sees every acknowledged write in revision order,
// once; a lease's key disappears after its TTL once keep-alives stop, not before.
import { describe, expect, it } from 'vitest'
import { retryUnavailable, sleep, waitLeader } from '../src/cluster.js'
import { watch, type WatchEvent } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import { useLocalCluster } from './local-cluster.js'

const TTL_SECONDS = 3

async function until(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe('watches and leases on a 4-node PBFT cluster of real processes', () => {
  const { nodes } = useLocalCluster('pbft', 4, 'synod-watch-pbft-', { startupMs: 120_000, env: { SYNOD_REQUEST_TIMEOUT_MS: '20000' } })

  it('a backup watcher sees every acknowledged write in order; a lease expires after its TTL once keep-alives stop', async () => {
    const primary = await waitLeader(nodes, 60_000)
    const backup = nodes.find((n) => n.id !== primary)!
    const writer = new NodeSynodClient(nodes.find((n) => n.id !== primary && n !== backup)!.http, { timeoutMs: 30_000 })
    const start = await retryUnavailable(() => writer.put('w/start', 'go'))
    const seen: WatchEvent[] = []
    const controller = new AbortController()
    const watching = watch({ endpoints: [backup.http], prefix: 'w/', fromRevision: start.revision!, signal: controller.signal, onEvents: (e) => seen.push(...e) })
    const acknowledged: Array<{ key: string; value: string; revision: number }> = []
    await Promise.all(
      Array.from({ length: 3 }, async (_, w) => {
        const client = new NodeSynodClient(nodes[w % nodes.length]!.http, { timeoutMs: 30_000 })
        for (let j = 0; j < 20; j++) {
          const answer = await retryUnavailable(() => client.put(`w/${w}/${j}`, `v${w}-${j}`))
          acknowledged.push({ key: `w/${w}/${j}`, value: `v${w}-${j}`, revision: answer.revision! })
        }
      }),
    )
    const last = Math.max(...acknowledged.map((a) => a.revision))
    await until('the watcher to reach the last write', () => seen.some((e) => e.revision >= last), 30_000)
    controller.abort()
    await watching
    const revisions = seen.map((e) => e.revision)
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b))
    expect(new Set(revisions).size).toBe(revisions.length)
    const byRevision = new Map(seen.map((e) => [e.revision, e]))
    for (const a of acknowledged) expect(byRevision.get(a.revision)).toMatchObject({ type: 'PUT', key: a.key, value: a.value })

    const lease = await retryUnavailable(() => writer.leaseGrant(TTL_SECONDS))
    await retryUnavailable(() => writer.put('lease/held', 'mine', { lease: lease.id! }))
    let lastSent = Date.now()
    for (let i = 0; i < 4; i++) {
      await sleep(1000)
      const sent = Date.now()
      await retryUnavailable(() => writer.leaseKeepAlive(lease.id!))
      lastSent = sent
    }
    expect((await retryUnavailable(() => writer.get('lease/held'))).value).toBe('mine') // kept past its TTL by keep-alives
    await until('the lease key to go', async () => (await retryUnavailable(() => writer.get('lease/held'))).value === null, 30_000)
    expect(Date.now() - lastSent).toBeGreaterThanOrEqual(TTL_SECONDS * 1000)
  }, 240_000)
})
