// The daemon's protocols come from its dependencies' package.json 'synod' fields (ADR 0018):
// names and fault models without importing a protocol, daemon defaults from the declarations.
import { describe, expect, it } from 'vitest'
import { daemonProtocolOptions, faultModelOf, loadProtocol, protocolNames } from '../src/protocols.js'

describe('the daemon registry', () => {
  it('lists the installed protocol packages, sorted', () => {
    expect(protocolNames()).toEqual(['hotstuff', 'paxos', 'pbft', 'raft'])
  })

  it('knows each fault model from the declaration', async () => {
    expect(await faultModelOf('pbft')).toBe('byzantine')
    expect(await faultModelOf('hotstuff')).toBe('byzantine')
    expect(await faultModelOf('paxos')).toBe('crash')
  })

  it("takes Paxos' daemon timing from its package.json, under the configured options", () => {
    expect(daemonProtocolOptions('paxos', {})).toEqual({ heartbeatIntervalMs: 100, electionTimeoutMs: 1000 })
    expect(daemonProtocolOptions('hotstuff', { viewTimeoutMs: 900 })).toEqual({ viewTimeoutMs: 900 })
  })

  it('loads a factory by name and refuses an unknown one, saying what is available', async () => {
    expect(await loadProtocol('raft')).toMatchObject({ name: 'raft', faultModel: 'crash' })
    await expect(loadProtocol('nope')).rejects.toThrow("unknown protocol 'nope' (available: hotstuff, paxos, pbft, raft;")
  })
})
