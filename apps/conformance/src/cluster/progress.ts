// The progress checker: the longest stretch of the fault phase with no
// acknowledged write while a quorum of nodes was up and connected. The
// post-heal liveness probe alone passed a PBFT run whose clients made almost
// no progress for most of 60 s (each fault healed, the cluster stuck anyway):
// a cluster that can make progress must, within a bound.
import type { CheckResult } from '@synod/conformance'
import type { HistoryEvent } from './history.js'

/** Default bound on a stall (see the README): generous for a loaded 2-core machine, far below "most of the run". */
export const DEFAULT_MAX_STALL_MS = 10_000

/** Protocols that tolerate byzantine faults need n − f connected nodes; crash-fault ones a majority. */
const BYZANTINE = new Set(['pbft', 'hotstuff'])

/** Whether the protocol tolerates byzantine faults (and certifies its answers). */
export function isByzantine(protocol: string): boolean {
  return BYZANTINE.has(protocol)
}

export function quorumSize(protocol: string, n: number): number {
  return BYZANTINE.has(protocol) ? n - Math.floor((n - 1) / 3) : Math.floor(n / 2) + 1
}

/**
 * Whether some `quorum` nodes are all up and pairwise connected both ways
 * (`cut(a, b)`: messages from a to b are lost). A one-way cut breaks the pair:
 * a quorum that cannot hear one of its members is not a working quorum. n ≤ 9,
 * so every subset is tried (≤ 512).
 */
export function quorumConnected(n: number, down: ReadonlySet<number>, cut: (from: number, to: number) => boolean, quorum: number): boolean {
  for (let mask = 0; mask < 1 << n; mask++) {
    const members: number[] = []
    for (let i = 0; i < n; i++) if ((mask & (1 << i)) !== 0) members.push(i)
    if (members.length < quorum || members.some((i) => down.has(i))) continue
    if (members.every((a) => members.every((b) => a === b || !cut(a, b)))) return true
  }
  return false
}

export interface Stall {
  /** ms without an acknowledged write, counting only time when a quorum was up and connected. */
  readonly ms: number
  /** The stretch it lies in: the acknowledgements (or the phase's ends) around it. */
  readonly from: number
  readonly to: number
}

/** Time of every acknowledged write or applied cas (its `ok`), in history order. */
export function acknowledgedWrites(events: readonly HistoryEvent[]): number[] {
  return events.filter((e) => e.process !== 'nemesis' && e.type === 'ok' && (e.f === 'write' || e.f === 'cas')).map((e) => e.time)
}

/**
 * The longest stall in [from, to]: between consecutive acknowledgements (and
 * the phase's ends), the time not covered by `noQuorum` spans (a fault left no
 * connected quorum: nobody can be expected to make progress then).
 */
export function longestStall(acks: readonly number[], from: number, to: number, noQuorum: ReadonlyArray<readonly [number, number]>): Stall {
  const points = [from, ...acks.filter((t) => t > from && t < to), to].sort((a, b) => a - b)
  let worst: Stall = { ms: 0, from, to: from }
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!
    const b = points[i]!
    let covered = 0
    for (const [s, e] of noQuorum) covered += Math.max(0, Math.min(b, e) - Math.max(a, s))
    const ms = b - a - covered
    if (ms > worst.ms) worst = { ms, from: a, to: b }
  }
  return worst
}

export function progressResult(stall: Stall, maxStallMs: number, acks: number, noQuorumMs: number): CheckResult {
  const where = `${Math.round(stall.from)}–${Math.round(stall.to)} ms`
  const note = `longest stretch without an acknowledged write while a quorum was connected: ${Math.round(stall.ms)} ms (${where}; bound ${maxStallMs} ms); ${acks} writes acknowledged; ${Math.round(noQuorumMs)} ms without a connected quorum not counted`
  return {
    checker: 'progress',
    verdict: stall.ms > maxStallMs ? 'violation' : 'ok',
    violations:
      stall.ms > maxStallMs
        ? [{ checker: 'progress', message: `no write was acknowledged for ${Math.round(stall.ms)} ms (${where}) while a quorum of nodes was up and connected (bound ${maxStallMs} ms)` }]
        : [],
    note,
  }
}
