// @synod/client's lock on a real 4-node PBFT cluster with authentication on (issue 19: the coordination API
// works the same on every protocol): every client signs its requests, every replica verifies them, and a
// lease ends only through f + 1 members' signed expiry votes (ADR 0022). Contending clients never hold the
// lock at once (a fenced counter ends at exactly the number of holds), and a holder that stops its
// keep-alives loses the lock after its TTL to the next waiter, whose fenced write lands while the old
// holder's is refused. Every client verifies every answer's certificate (`verify`), and a VerifiedWatch of
// the lock's line checks the streamed events against certified past reads (ADR 0023). One cluster for the
// file; short TTLs.
import { LeaseSession, Mutex, SynodClient, type Transport, VerifiedWatch, WatchVerificationError } from '@synod/client'
import { NodeSynodClient, nodeTransport } from '@synod/client/node'
import { clientIdOf, fromHex, membership, utf8 } from '@synod/core'
import { createSigner, keyPairFromSecret, sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { readConfigFile, validateConfig } from '../src/config.js'
import { useLocalCluster } from './local-cluster.js'

// Sessions that must not expire (contention, defence off) get a TTL a loaded machine keeps alive: on a
// busy 2-core machine a signed PBFT keep-alive took over a second and 1 s sessions ended mid-test. The
// expiry test's TTL is short enough to wait for and long enough to hold the lock until the stall.
const TTL_SECONDS = 10
const EXPIRY_TTL_SECONDS = 4
const keys = ['admin', 'w0', 'w1', 'w2', 'a', 'b'].map((name) => keyPairFromSecret(sha256(utf8(`recipes-pbft:${name}`))))
const [adminKeys] = keys

const cluster = useLocalCluster('pbft', 4, 'synod-recipes-pbft-', {
  security: { admins: keys.map((k) => clientIdOf(k.publicKey)) },
  credentials: { signer: createSigner(adminKeys!) },
})
const endpoints = () => cluster.nodes.map((n) => n.http)
/** The members' keys, from the configuration (what a client trusts; never from the node that answers). */
const members = () =>
  membership(validateConfig(readConfigFile(cluster.nodes[0]!.configFile).raw).members.map((m) => ({ id: m.id, publicKey: fromHex(m.publicKey) })))
/**
 * A signed client of its own key (so its signed-request session is its own) that checks every answer's
 * certificate: the recipes run on verified answers only (a forged one throws).
 */
const signed = (i: number): SynodClient => new NodeSynodClient(endpoints(), { timeoutMs: 15_000, signer: createSigner(keys[i]!), verify: members() })
const session = (i: number, ttlSeconds = TTL_SECONDS) => LeaseSession.open(signed(i), { ttlSeconds })

describe('the lock recipe on a 4-node PBFT cluster with signed clients', () => {
  it('contending clients never hold the lock at once: the fenced counter ends at the number of holds', async () => {
    let holders = 0
    let most = 0
    const tokens: number[] = []
    const refused: number[] = []
    const worker = async (i: number, rounds: number) => {
      const s = await session(i)
      const lock = new Mutex(s, 'locks/counter/')
      for (let r = 0; r < rounds; r++) {
        const token = await lock.lock()
        most = Math.max(most, ++holders)
        tokens.push(token)
        const read = await s.client.get('counter')
        const write = await s.client.txn({
          compare: [lock.fence(), { key: 'counter', target: 'modRevision', result: '=', value: read.modRevision ?? 0 }],
          success: [{ op: 'put', key: 'counter', value: String(Number(read.value ?? '0') + 1) }],
        })
        if (write.succeeded !== true) refused.push(token)
        holders--
        await lock.unlock()
      }
      await s.close()
    }
    // A verified watch of the line (ADR 0023): the events the node streams, folded, match certified reads.
    const verified: number[] = []
    const watch = await VerifiedWatch.start(signed(0), 'locks/counter/', { checkEvery: 4, onVerified: (r) => verified.push(r) })
    await Promise.all([worker(1, 2), worker(2, 2), worker(3, 2)])
    // Every change of the line was streamed (each hold put a key and deleted it), then a final check.
    const last = (await signed(0).list('locks/counter/')).revision!
    for (let i = 0; i < 200 && watch.revision < last; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    expect(await watch.check()).toBeGreaterThanOrEqual(last)
    expect(watch.state.size).toBe(0)
    expect(verified.length).toBeGreaterThanOrEqual(2)
    watch.close()
    await watch.done
    expect(most).toBe(1)
    expect(refused).toEqual([])
    expect((await signed(0).get('counter')).value).toBe('6')
    expect(tokens).toEqual([...tokens].sort((x, y) => x - y))
    expect(new Set(tokens).size).toBe(6)
  }, 60_000)

  it('a holder that stops its keep-alives loses the lock after the TTL (f + 1 expiry votes); its old fence is refused', async () => {
    const [a, b] = await Promise.all([session(4, EXPIRY_TTL_SECONDS), session(5)])
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

  it('defence off — a contender that does not wait for the line holds the lock together with the holder', async () => {
    const [a, b] = await Promise.all([session(4), session(5)])
    const lockA = new Mutex(a, 'locks/skip/')
    const lockB = new Mutex(b, 'locks/skip/', { unsafeSkipWait: true })
    const tokenA = await lockA.lock()
    const tokenB = await lockB.lock() // resolves while A holds
    expect(tokenB).toBeGreaterThan(tokenA)
    // Both fences hold at once: each "holder" would write under the lock.
    const both = await a.client.txn({ compare: [lockA.fence(), lockB.fence()], success: [{ op: 'put', key: 'skip/both', value: 'yes' }] })
    expect(both.succeeded).toBe(true)
    await Promise.all([a.close(), b.close()])
  }, 30_000)

  it('a verified watch catches a node that streams a forged event; without the check it is believed', async () => {
    // The faulty node: its watch stream says 'forge/k' was set to 'forged' (whole SSE messages rewritten).
    const real = nodeTransport()
    const lying: Transport = {
      send: (request) => real.send(request),
      stream: async (request) => {
        const res = await real.stream(request)
        async function* chunks(): AsyncGenerator<string> {
          let buffered = ''
          for await (const chunk of res.chunks()) {
            buffered += chunk
            const end = buffered.lastIndexOf('\n\n') + 2
            if (end < 2) continue
            yield buffered.slice(0, end).replaceAll('"value":"v1"', '"value":"forged"')
            buffered = buffered.slice(end)
          }
        }
        return { status: res.status, header: (name) => res.header(name), chunks, close: () => res.close() }
      },
    }
    const client = new SynodClient(endpoints(), { transport: lying, timeoutMs: 15_000, signer: createSigner(keys[0]!), verify: members() })
    const watch = await VerifiedWatch.start(client, 'forge/', { checkEvery: 0 })
    const done = watch.done.catch((error: unknown) => error)
    await client.put('forge/k', 'v1')
    const last = (await client.put('forge/j', 'v2')).revision!
    for (let i = 0; i < 200 && watch.revision < last; i++) await new Promise((resolve) => setTimeout(resolve, 25))
    // Defence off (no check yet): the watcher believes the forged value.
    expect(watch.state.get('forge/k')?.value).toBe('forged')
    const error = await watch.check().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WatchVerificationError)
    expect(error).toMatchObject({ key: 'forge/k', certified: { value: 'v1' }, received: { value: 'forged' } })
    expect(await done).toBe(error)
    real.close?.()
  }, 30_000)
})
