// PBFT's own Byzantine replicas for the conformance suite
// (`@synod/pbft/adversaries`): each attack wraps an honest PbftNode and
// misbehaves in one protocol-aware way. `pbftAdversary` is the conformance
// suite's ProtocolAdversary (the scenario names the attack); the scenarios
// place each attack where it can do harm. Which defence stops which attack,
// and the test-only switch that proves it: see the package README.
import type { ProtocolContext, ProtocolFactory } from '@synod/core'
import type { Scenario } from '@synod/conformance'
import { resolveOptions, type PbftOptions } from '../options.js'
import { censoringPrimary } from './censor.js'
import { equivocatingPrimary } from './equivocate.js'
import { forgingViewChanges } from './forge-view-change.js'
import { attackingFactory, type Attack, type PbftAdversaryContext } from './intercept.js'
import { replayingOldViews } from './replay-old-view.js'
import { staleReplyProxy } from './stale-reply.js'
import { withholdingPrimary } from './withhold-new-view.js'

export { censoredProxy } from './censor.js'
export { withheldFrom } from './withhold-new-view.js'
export type { Attack, PbftAdversaryContext } from './intercept.js'

export const PBFT_ATTACKS = ['equivocate', 'censor', 'withhold-new-view', 'forge-view-change', 'replay-old-view', 'stale-reply'] as const
export type PbftAttack = (typeof PBFT_ATTACKS)[number]

const attacks: Record<PbftAttack, (ctx: ProtocolContext, context: PbftAdversaryContext, options: PbftOptions) => Attack> = {
  equivocate: (ctx, { random }) => equivocatingPrimary(ctx, random),
  censor: (ctx) => censoringPrimary(ctx),
  'withhold-new-view': (ctx) => withholdingPrimary(ctx),
  'forge-view-change': (ctx, _context, options) => forgingViewChanges(ctx, options.checkpointInterval),
  'replay-old-view': (ctx, { random }) => replayingOldViews(ctx, random),
  'stale-reply': (ctx) => staleReplyProxy(ctx),
}

/**
 * The conformance suite's ProtocolAdversary for PBFT: the scenario's
 * `attack` picks one of PBFT_ATTACKS (default 'equivocate', which is what
 * the shared byzantine-protocol-adversary scenario runs, on the first primary).
 */
export function pbftAdversary(context: PbftAdversaryContext): ProtocolFactory<PbftOptions> {
  const name = (context.attack ?? 'equivocate') as PbftAttack
  const make = attacks[name]
  if (make === undefined) throw new RangeError(`unknown pbft attack '${String(context.attack)}'; known: ${PBFT_ATTACKS.join(', ')}`)
  return attackingFactory(context.factory, name, (ctx, options) => make(ctx, context, resolveOptions(options)))
}

/** Isolate whoever leads every 800 ms (for 400 ms): view changes for attacks that act in them. */
const viewChanges = [
  { at: 400, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
  { at: 800, kind: 'heal' },
  { at: 1200, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
  { at: 1600, kind: 'heal' },
] as const satisfies Scenario['chaos']

/** Three leader isolations: views 0 → 1 → 2 → 3, so the replica at index 1 led a view the cluster then left. */
const threeViewChanges = [
  { at: 300, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
  { at: 600, kind: 'heal' },
  { at: 900, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
  { at: 1200, kind: 'heal' },
  { at: 1500, kind: 'partition', shape: { kind: 'isolate', target: 'leader' } },
  { at: 1800, kind: 'heal' },
] as const satisfies Scenario['chaos']

const base = { faultModel: 'byzantine', chaosMs: 2000, healMs: 3000 } as const

/**
 * One scenario per attack, at the position where it bites (n = 4 by
 * default; `nodes: 7` and a second adversary make the n = 7 variants).
 */
export const pbftAdversaryScenarios: readonly Scenario[] = [
  {
    ...base,
    name: 'pbft-equivocating-primary',
    description: 'The first primary sends different validly signed pre-prepares (batches) to different backups for every sequence number.',
    adversaries: [{ index: 0, behaviour: 'protocol', attack: 'equivocate' }],
    chaos: [],
  },
  {
    ...base,
    name: 'pbft-forged-view-change',
    description: 'A backup sends VIEW-CHANGEs whose prepared certificates are forged (an empty batch claimed prepared in the latest view) while the leader is isolated twice.',
    adversaries: [{ index: 3, behaviour: 'protocol', attack: 'forge-view-change' }],
    chaos: [...viewChanges],
  },
  {
    ...base,
    name: 'pbft-replaying-old-views',
    description: 'A replica replays its own pre-prepares, votes, view-changes and new-views of views the cluster has left (it leads view 1), while the leader is isolated three times.',
    adversaries: [{ index: 1, behaviour: 'protocol', attack: 'replay-old-view' }],
    chaos: [...threeViewChanges],
  },
  {
    ...base,
    name: 'pbft-stale-replies',
    description: 'A proxy answers repeated operations (e.g. reads of one key) with the first answer and its old, valid reply certificate, without ordering them.',
    adversaries: [{ index: 1, behaviour: 'protocol', attack: 'stale-reply' }],
    chaos: [],
    workload: { readRatio: 0.6, anyNodeReadRatio: 0.5 },
  },
  {
    ...base,
    name: 'pbft-censoring-primary',
    description: 'The first primary orders every request but those of one proxy (n2); clients stay with the proxy they chose for a whole operation.',
    adversaries: [{ index: 0, behaviour: 'protocol', attack: 'censor' }],
    chaos: [],
    // A client does not walk away from a censored proxy within one operation: censorship must be ended by the
    // replicas. A long liveness phase lets a client give up on a censored operation and go on (a violation), rather
    // than the run ending while it waits.
    workload: { attemptTimeoutMs: 1500 },
    healMs: 6000,
  },
  {
    ...base,
    name: 'pbft-withholding-new-view',
    description: 'The primary of view 1 sends its NEW-VIEW to all but f replicas; the first primary is paused to bring view 1 about.',
    adversaries: [{ index: 1, behaviour: 'protocol', attack: 'withhold-new-view' }],
    chaos: [
      { at: 400, kind: 'pause', target: { index: 0 } },
      { at: 1400, kind: 'resume', target: { index: 0 } },
    ],
  },
]

export { pbftClients, pbftSignedClientOptions, pbftUnsignedClients, PBFT_CONFORMANCE_CLUSTER, verifyPbftAnswer } from './clients.js'
