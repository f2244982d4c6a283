import { describe, expect, it } from 'vitest'
import { fixedLeaderToy } from '@synod/conformance'
import { membershipOf, type ProtocolContext } from '@synod/core'
import { DEFAULT_PROTOCOLS, loadFactory, protocolCapabilities, protocolExtras, protocolRegistry, ProtocolUnavailableError } from '../src/registry.js'

describe('loadFactory', () => {
  it('takes the first export that is a ProtocolFactory', async () => {
    const factory = await loadFactory('toy-fixed-leader', 'toy-package', ['toy', 'toyFactory'], async () => ({ helper: 1, toyFactory: fixedLeaderToy }))
    expect(factory).toBe(fixedLeaderToy)
  })

  it('says clearly when the package does not export a factory yet', async () => {
    const loading = loadFactory('pbft', '@synod/pbft', ['pbft', 'pbftFactory'], async () => ({}))
    await expect(loading).rejects.toThrow(ProtocolUnavailableError)
    await expect(loading).rejects.toThrow("protocol 'pbft' is registered but unavailable: @synod/pbft does not export a ProtocolFactory as 'pbft' or 'pbftFactory' yet")
  })

  it('says clearly when the package cannot be imported', async () => {
    const loading = loadFactory('x', '@synod/x', ['x'], () => Promise.reject(new Error('Cannot find module')))
    await expect(loading).rejects.toThrow(/cannot import @synod\/x \(Cannot find module\); is it built\?/)
  })

  it('refuses a factory whose name differs from the registered one (reproduce commands use the name)', async () => {
    await expect(loadFactory('raft', 'p', ['raft'], async () => ({ raft: fixedLeaderToy }))).rejects.toThrow(/named 'toy-fixed-leader'/)
  })

  it('imports a real package by name', async () => {
    await expect(loadFactory('nope', '@synod/does-not-exist', ['nope'])).rejects.toThrow(/cannot import @synod\/does-not-exist/)
    const raft = await protocolRegistry.get('raft')!().catch((error: unknown) => error)
    // Raft is written in parallel: either its factory loads under its name, or the error says why not.
    if (raft instanceof Error) expect(raft).toBeInstanceOf(ProtocolUnavailableError)
    else expect(raft).toMatchObject({ name: 'raft', faultModel: 'crash' })
  })

  it("registers raft's lease-read mode as 'raft-lease': raft's factory with readMode 'lease' forced", async () => {
    const factory = await protocolRegistry.get('raft-lease')!()
    expect(factory).toMatchObject({ name: 'raft-lease', faultModel: 'crash' })
    const ctx = { self: 'a', membership: membershipOf(['a']) } as unknown as ProtocolContext
    const node = factory.create(ctx, { readMode: 'read-index', electionTimeoutMs: 300 }) as unknown as { options: Record<string, unknown> }
    expect(node.options).toMatchObject({ readMode: 'lease', electionTimeoutMs: 300 })
    expect(protocolCapabilities.get('raft-lease')).toEqual(protocolCapabilities.get('raft'))
  })

  it("registers paxos's lease mode as 'paxos-lease': paxos's factory with readMode 'lease' forced", async () => {
    const factory = await protocolRegistry.get('paxos-lease')!()
    expect(factory).toMatchObject({ name: 'paxos-lease', faultModel: 'crash' })
    const ctx = { self: 'a', membership: membershipOf(['a']) } as unknown as ProtocolContext
    const node = factory.create(ctx, { readMode: 'read-index', electionTimeoutMs: 300 }) as unknown as { options: Record<string, unknown> }
    expect(node.options).toMatchObject({ readMode: 'lease', electionTimeoutMs: 300 })
    expect(protocolCapabilities.get('paxos-lease')).toEqual(protocolCapabilities.get('paxos'))
  })

  it('registers the toys under their own names', async () => {
    for (const [name, load] of protocolRegistry) if (name.startsWith('toy-')) expect((await load()).name).toBe(name)
  })
})

describe("the runner's registry comes from the installed packages' 'synod' fields", () => {
  it('lists the shipped protocols (and raft-lease, paxos-lease) by default, the toys only by name', () => {
    expect(DEFAULT_PROTOCOLS).toEqual(['hotstuff', 'paxos', 'paxos-lease', 'pbft', 'raft', 'raft-lease'])
    for (const name of DEFAULT_PROTOCOLS) expect(protocolRegistry.has(name)).toBe(true)
    expect([...protocolRegistry.keys()].filter((name) => !DEFAULT_PROTOCOLS.includes(name)).every((name) => name.startsWith('toy-'))).toBe(true)
  })

  it("loads PBFT's and HotStuff's own adversaries and scenarios from their declared './adversaries' subpath", async () => {
    expect([...protocolExtras.keys()]).toEqual(['hotstuff', 'pbft'])
    const pbft = await protocolExtras.get('pbft')!()
    expect(typeof pbft.adversary).toBe('function')
    expect(pbft.scenarios?.some((s) => s.name.startsWith('pbft-'))).toBe(true)
    expect(pbft.protocolOptions).toBeDefined()
    expect(pbft.clients).toBeDefined()
    const hotstuff = await protocolExtras.get('hotstuff')!()
    expect(hotstuff.scenarios?.map((s) => s.name)).toContain('hotstuff-forking-leader')
  })
})
