// @synod/client's lock and election recipes on a real 3-node Raft cluster (issue 19 item 6): contending
// clients never hold the lock at once (a fenced counter, written only under a txn comparing the lock key's
// create revision, ends at exactly the number of holds); a holder that stops its keep-alives loses the lock
// after its TTL, the next waiter gets it and the old holder's fenced write is refused; one leader at a time,
// resign hands over, observe sees each change; and the README's example runs against the cluster.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Election, type Leader, LeaseSession, Mutex, SynodClient } from '@synod/client'
import { describe, expect, it } from 'vitest'
import { sleep } from '../src/cluster.js'
import { useLocalCluster } from './local-cluster.js'

// Sessions that must not expire get a TTL a loaded machine keeps alive (1–2 s sessions ended mid-test on
// a busy 2-core machine); the expiry test's own session has a short one.
const TTL_SECONDS = 10
const EXPIRY_TTL_SECONDS = 3

describe('locks and elections on a 3-node Raft cluster of real processes', () => {
  const cluster = useLocalCluster('raft', 3, 'synod-recipes-')
  const endpoints = () => cluster.nodes.map((n) => n.http)
  const session = async (ttlSeconds = TTL_SECONDS) => LeaseSession.open(new SynodClient(endpoints(), { timeoutMs: 10_000 }), { ttlSeconds })

  it('contending clients never hold the lock at once: the fenced counter ends at the number of holds', async () => {
    let holders = 0
    let most = 0
    const tokens: number[] = []
    const refused: number[] = []
    const worker = async (rounds: number) => {
      const s = await session()
      const lock = new Mutex(s, 'locks/counter/')
      for (let i = 0; i < rounds; i++) {
        const token = await lock.lock()
        most = Math.max(most, ++holders)
        tokens.push(token)
        const read = await s.client.get('counter')
        const write = await s.client.txn({
          compare: [lock.fence(), { key: 'counter', target: 'modRevision', result: '=', value: read.modRevision ?? 0 }],
          success: [{ op: 'put', key: 'counter', value: String(Number(read.value ?? '0') + 1) }],
        })
        if (write.succeeded !== true) refused.push(token)
        holders-- // before the release: the next holder may get the lock as soon as the key is deleted
        await lock.unlock()
      }
      await s.close()
    }
    await Promise.all([worker(3), worker(3), worker(3)])
    expect(most).toBe(1)
    expect(refused).toEqual([])
    expect((await new SynodClient(endpoints()).get('counter')).value).toBe('9')
    // First come, first served: each hold's token (its key's create revision) is larger than the last.
    expect(tokens).toEqual([...tokens].sort((a, b) => a - b))
    expect(new Set(tokens).size).toBe(9)
  }, 60_000)

  it('defence off — a contender that does not wait for the line holds the lock together with the holder', async () => {
    const [a, b, c] = await Promise.all([session(), session(), session()])
    const lockA = new Mutex(a, 'locks/skip/')
    const lockB = new Mutex(b, 'locks/skip/', { unsafeSkipWait: true })
    const lockC = new Mutex(c, 'locks/skip/')
    const order: string[] = []
    await lockA.lock()
    await lockB.lock() // resolves while A holds: two holders
    order.push('A and B hold')
    const waitingC = lockC.lock().then(() => order.push('C holds'))
    // C waits in line behind A and B (given time to show otherwise: a pause cannot make a correct C fail).
    await sleep(300)
    order.push('A releases')
    await lockA.unlock()
    await sleep(300)
    order.push('B releases')
    await lockB.unlock()
    await waitingC
    expect(order).toEqual(['A and B hold', 'A releases', 'B releases', 'C holds'])
    await lockC.unlock()
    await Promise.all([a.close(), b.close(), c.close()])
  }, 60_000)

  it('a holder that stops its keep-alives loses the lock after the TTL; the next waiter gets it; the old fence is refused', async () => {
    const [a, b] = await Promise.all([session(EXPIRY_TTL_SECONDS), session()])
    const lockA = new Mutex(a, 'locks/ttl/')
    const lockB = new Mutex(b, 'locks/ttl/')
    const tokenA = await lockA.lock()
    const fenceA = lockA.fence()
    const waitingB = lockB.lock()
    const stalled = Date.now()
    a.orphan() // A stalls: no more keep-alives, no release
    const tokenB = await waitingB
    const waited = Date.now() - stalled
    expect(tokenB).toBeGreaterThan(tokenA)
    // Not before the lease could have run out (its last renewal was at most a third of the TTL ago), not much after.
    expect(waited).toBeGreaterThanOrEqual((EXPIRY_TTL_SECONDS * 1000 * 2) / 3 - 100)
    expect(waited).toBeLessThan(EXPIRY_TTL_SECONDS * 1000 + 20_000)
    // A wakes up and writes as if it still held the lock: the fence refuses it, B's guarded write lands.
    const late = await a.client.txn({ compare: [fenceA], success: [{ op: 'put', key: 'ttl/owner', value: 'A' }] })
    expect(late.succeeded).toBe(false)
    const current = await b.client.txn({ compare: [lockB.fence()], success: [{ op: 'put', key: 'ttl/owner', value: 'B' }] })
    expect(current.succeeded).toBe(true)
    // Defence off: the same late write without the fence overwrites the current holder's.
    await a.client.put('ttl/owner', 'A')
    expect((await b.client.get('ttl/owner')).value).toBe('A')
    await lockB.unlock()
    await b.close()
  }, 60_000)

  it('election: one leader at a time, resign hands over, observe sees every change', async () => {
    const [one, two] = await Promise.all([session(), session()])
    const reader = new SynodClient(endpoints())
    const seen: Array<string | undefined> = []
    const stop = new AbortController()
    const observing = Election.observe(reader, 'elect/', (leader: Leader | undefined) => seen.push(leader?.value), stop.signal)
    const e1 = new Election(one, 'elect/')
    const e2 = new Election(two, 'elect/')
    await e1.campaign('one')
    let twoLeads = false
    const electedTwo = e2.campaign('two').then(() => (twoLeads = true))
    for (let i = 0; i < 200 && e2.key === undefined; i++) await sleep(20)
    expect((await Election.leader(reader, 'elect/'))?.value).toBe('one')
    expect(twoLeads).toBe(false)
    await e1.resign()
    await electedTwo
    expect((await Election.leader(reader, 'elect/'))?.value).toBe('two')
    await e2.resign()
    for (let i = 0; i < 200 && seen.at(-1) !== undefined; i++) await sleep(20)
    stop.abort()
    await observing
    // The observer may have started before or after 'one' was elected; from then on it saw each change once.
    expect(seen.filter((v, i) => i > 0 || v !== undefined)).toEqual(['one', 'two', undefined])
    await Promise.all([one.close(), two.close()])
  }, 60_000)

  it("the README's lock-and-election example prints what the README shows", async () => {
    const clientDir = fileURLToPath(new URL('../../../packages/client/', import.meta.url))
    const readme = readFileSync(`${clientDir}README.md`, 'utf8')
    const file = 'examples/lock-and-election.ts'
    const block = new RegExp(`<!-- cluster-example: ${file} -->\\n\`\`\`ts\\n([\\s\\S]*?)\`\`\`\\n<!-- cluster-output -->\\n\`\`\`text\\n([\\s\\S]*?)\`\`\``).exec(readme)
    expect(block, 'the README shows the example and its output').not.toBeNull()
    expect(block![1]).toBe(readFileSync(`${clientDir}${file}`, 'utf8'))
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--conditions=@synod/source', '--import', import.meta.resolve('tsx'), file],
        { cwd: clientDir, env: { ...process.env, SYNOD_ENDPOINTS: endpoints().join(','), NO_COLOR: '1' }, timeout: 60_000 },
        (error, out, err) => (error === null ? resolve(out) : reject(new Error(`${error.message}\n${err}`))),
      ),
    )
    expect(stdout).toBe(block![2])
  }, 90_000)
})
