// Each PBFT adversary does harm once the defence against it is switched off
// (test-only `unsafeDisableDefences`, or the weaker client mode): the same
// scenario that passes in conformance.test.ts then fails a checker.
import { runScenario, scenarioByName, useConformanceCrypto } from '@synod/conformance'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pbftAdversary, pbftAdversaryScenarios, pbftClients, pbftSignedClientOptions, pbftUnsignedClients } from '../src/adversaries/index.js'
import { pbft, type PbftOptions } from '../src/index.js'
import type { UnsafeDefence } from '../src/options.js'

const timing = { viewChangeTimeoutMs: 300, requestRetransmitMs: 150, statusIntervalMs: 300 }
const scenario = (name: string) => pbftAdversaryScenarios.find((s) => s.name === name) ?? scenarioByName(name)!

async function run(name: string, protocolOptions: Partial<PbftOptions>, clients = pbftUnsignedClients, seed = 1) {
  const result = await runScenario({ factory: pbft, scenario: scenario(name), seed, adversary: pbftAdversary, protocolOptions: { ...timing, ...protocolOptions }, clients })
  const violated = result.checks.filter((c) => c.verdict === 'violation').map((c) => c.checker)
  return { result, violated }
}

describe('pbft adversaries do harm with their defence switched off', () => {
  const cases: ReadonlyArray<{ name: string; off: UnsafeDefence; checker: string; why: string }> = [
    { name: 'pbft-equivocating-primary', off: 'vote-digest', checker: 'agreement', why: 'backups execute the different batches they were sent' },
    { name: 'pbft-forged-view-change', off: 'view-change-certificates', checker: 'liveness', why: 'the new view adopts a checkpoint whose state nobody has' },
    { name: 'pbft-replaying-old-views', off: 'old-view', checker: 'liveness', why: 'replayed NEW-VIEWs drag replicas back into a view the others left' },
  ]
  for (const { name, off, checker, why } of cases)
    it(`${name} with '${off}' off: ${checker} violated (${why})`, { timeout: 180_000 }, async () => {
      const { violated } = await run(name, { unsafeDisableDefences: [off] })
      expect(violated).toContain(checker)
    })

  it("pbft-stale-replies with 'proxy' client authentication: an old valid certificate for a repeated read passes the client's check, and the read is stale (linearizability)", { timeout: 180_000 }, async () => {
    const { violated } = await run('pbft-stale-replies', {})
    expect(violated).toContain('linearizability')
  })

  it("pbft-stale-replies with signed clients: the stale certificates are rejected (the attack is live) and the run passes", { timeout: 180_000 }, async () => {
    const { result, violated } = await run('pbft-stale-replies', pbftSignedClientOptions, pbftClients)
    expect(violated).toEqual([])
    expect(result.record.timeline.filter((e) => e.detail.includes('rejected the answer of n2')).length).toBeGreaterThan(0)
  })

  it("pbft-censoring-primary with 'request-timers' off (the timer restarts whenever anything executes): a client behind the censored proxy gives up (liveness)", { timeout: 180_000 }, async () => {
    const { violated } = await run('pbft-censoring-primary', { unsafeDisableDefences: ['request-timers'] })
    expect(violated).toContain('liveness')
  })
})

// The long seed sweeps run with --crypto simulated: the adversaries must do the same harm there, and be stopped the same way.
describe('the same attacks under the simulated signature scheme of long sweeps', () => {
  beforeAll(() => useConformanceCrypto('simulated'))
  afterAll(() => useConformanceCrypto('ed25519'))

  it("pbft-equivocating-primary: agreement violated with 'vote-digest' off, clean with it on", { timeout: 360_000 }, async () => {
    expect((await run('pbft-equivocating-primary', { unsafeDisableDefences: ['vote-digest'] })).violated).toContain('agreement')
    expect((await run('pbft-equivocating-primary', {})).violated).toEqual([])
  })

  it('pbft-stale-replies: the stale certificate passes a proxy-mode client, and signed clients reject it', { timeout: 360_000 }, async () => {
    expect((await run('pbft-stale-replies', {})).violated).toContain('linearizability')
    const { result, violated } = await run('pbft-stale-replies', pbftSignedClientOptions, pbftClients)
    expect(violated).toEqual([])
    expect(result.record.timeline.filter((e) => e.detail.includes('rejected the answer of n2')).length).toBeGreaterThan(0)
  })
})
