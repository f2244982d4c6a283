// VerifiedWatch (ADR 0023): a watcher on a byzantine cluster folds the events its node streamed and
// compares them with a certified read of the prefix at the same revision. The node here is the scripted
// daemon in front of a simulated 4-replica PBFT cluster (scripted-pbft.ts); its watch stream forges,
// drops or invents events. Each lie is caught by a check — and, with the check off, believed.
import { describe, expect, it } from 'vitest'
import { ConfigError } from '@synod/core'
import { createSigner, keyPairFromSecret } from '@synod/crypto'
import { SynodClient, VerifiedWatch, WatchVerificationError } from '../src/index.js'
import { seed, setup } from './scripted-pbft.js'

async function world() {
  const cluster = await setup()
  const client = new SynodClient('node:1', { transport: cluster.transport, signer: createSigner(keyPairFromSecret(seed('watcher'))), cluster: 'c1', verify: cluster.members })
  return { ...cluster, client }
}

/** Bounded wait for a condition the watch reaches on its own (the stream runs on real promises). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 2))
  expect(done()).toBe(true)
}

/** Three changes under 'cfg/' (and one outside it); resolves with the last one's revision. */
async function changes(client: SynodClient): Promise<number> {
  await client.put('cfg/a', '1')
  await client.put('cfg/b', '2')
  await client.put('other', 'x')
  return (await client.delete('cfg/a')).revision!
}

describe('VerifiedWatch', () => {
  it('an honest stream passes its checks; the folded state is the certified one', async () => {
    const { client } = await world()
    await client.put('cfg/z', 'before')
    const verified: number[] = []
    const watch = await VerifiedWatch.start(client, 'cfg/', { checkEvery: 0, onVerified: (r) => verified.push(r) })
    const last = await changes(client)
    await until(() => watch.revision >= last)
    expect(await watch.check()).toBe(watch.revision)
    expect([...watch.state.keys()].sort()).toEqual(['cfg/b', 'cfg/z'])
    expect(verified).toEqual([watch.revision])
    expect(watch.verifiedRevision).toBe(watch.revision)
    watch.close()
    await watch.done
  }, 30_000)

  it('a forged event (an altered value) is caught by the next check; the watch ends with the error', async () => {
    const { client, state } = await world()
    state.forgeEvent = (e) => [e.key === 'cfg/b' ? { ...e, value: 'forged' } : e]
    const watch = await VerifiedWatch.start(client, 'cfg/', { checkEvery: 0 })
    const done = watch.done.catch((error: unknown) => error)
    const last = await changes(client)
    await until(() => watch.revision >= last)
    const error = await watch.check().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WatchVerificationError)
    expect(error).toMatchObject({ key: 'cfg/b', certified: { value: '2' }, received: { value: 'forged' } })
    expect(await done).toBe(error)
  }, 30_000)

  it('a dropped event (a delete withheld) and an invented one are caught', async () => {
    for (const forge of [
      (e: Record<string, unknown>) => (e.type === 'DELETE' ? [] : [e]),
      (e: Record<string, unknown>) => (e.key === 'cfg/b' ? [e, { ...e, key: 'cfg/invented' }] : [e]),
    ]) {
      const { client, state } = await world()
      state.forgeEvent = forge
      const watch = await VerifiedWatch.start(client, 'cfg/', { checkEvery: 0 })
      void watch.done.catch(() => undefined)
      const last = await changes(client)
      await until(() => watch.revision >= last)
      await expect(watch.check()).rejects.toBeInstanceOf(WatchVerificationError)
    }
  }, 30_000)

  it('checks run by themselves every N revisions: a forgery ends the watch without a call to check()', async () => {
    const { client, state } = await world()
    const verified: number[] = []
    const watch = await VerifiedWatch.start(client, 'cfg/', { checkEvery: 2, onVerified: (r) => verified.push(r) })
    await client.put('cfg/a', '1')
    await client.put('cfg/b', '2') // the second revision: a check, which passes
    await until(() => verified.length === 1)
    state.forgeEvent = (e) => [{ ...e, value: 'forged' }]
    await client.put('cfg/c', '3')
    await client.put('cfg/d', '4') // the next check meets the forged events
    await expect(watch.done).rejects.toBeInstanceOf(WatchVerificationError)
    expect(verified).toHaveLength(1)
  }, 30_000)

  it('starts from a past revision: the base is the certified state at fromRevision - 1', async () => {
    const { client } = await world()
    const first = (await client.put('cfg/a', 'old')).revision!
    await client.put('cfg/a', 'new')
    const seen: string[] = []
    const watch = await VerifiedWatch.start(client, 'cfg/', { fromRevision: first + 1, checkEvery: 0, onEvents: (events) => seen.push(...events.map((e) => `${e.key}=${e.value}`)) })
    await until(() => seen.length === 1)
    expect(seen).toEqual(['cfg/a=new'])
    await expect(watch.check()).resolves.toBeGreaterThan(first)
    watch.close()
  }, 30_000)

  it('defence off — without a check the forged, dropped and invented events are believed', async () => {
    const { client, state } = await world()
    state.forgeEvent = (e) => (e.type === 'DELETE' ? [] : e.key === 'cfg/b' ? [{ ...e, value: 'forged' }, { ...e, key: 'cfg/invented' }] : [e])
    const watch = await VerifiedWatch.start(client, 'cfg/', { checkEvery: 0 })
    const last = await changes(client)
    await until(() => watch.revision >= last)
    expect(Object.fromEntries([...watch.state].map(([k, v]) => [k, v.value]))).toEqual({ 'cfg/a': '1', 'cfg/b': 'forged', 'cfg/invented': '2' })
    watch.close()
    await expect(watch.done).resolves.toBeUndefined()
    // The certified state says otherwise: only cfg/b, with '2'.
    expect((await client.list('cfg/')).kvs).toMatchObject([{ key: 'cfg/b', value: '2' }])
  }, 30_000)

  it('needs a client that verifies answers', async () => {
    const { transport } = await world()
    const plain = new SynodClient('node:1', { transport, signer: createSigner(keyPairFromSecret(seed('plain'))), cluster: 'c1' })
    await expect(VerifiedWatch.start(plain, 'cfg/')).rejects.toBeInstanceOf(ConfigError)
  }, 30_000)
})
