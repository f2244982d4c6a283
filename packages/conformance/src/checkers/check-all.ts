import type { CheckResult, RunRecord } from '../types.js'
import { checkAgreement } from './agreement.js'
import { checkDurability } from './durability.js'
import { checkLinearizability, type LinearizabilityOptions } from './linearizability.js'
import { checkLiveness } from './liveness.js'
import { checkMonotonicCommit } from './monotonic-commit.js'
import { checkOneLeaderPerTerm } from './one-leader-per-term.js'
import { checkStability } from './stability.js'

export interface CheckAllOptions {
  readonly linearizability?: LinearizabilityOptions
}

/** Every checker's name, in the order `checkAll` runs them. */
export const CHECKER_NAMES = [
  'agreement',
  'stability',
  'monotonic-commit',
  'one-leader-per-term',
  'durability',
  'linearizability',
  'liveness',
] as const

export type CheckerName = (typeof CHECKER_NAMES)[number]

/** Run every checker over one run, in `CHECKER_NAMES` order. */
export function checkAll(record: RunRecord, options: CheckAllOptions = {}): CheckResult[] {
  return [
    checkAgreement(record),
    checkStability(record),
    checkMonotonicCommit(record),
    checkOneLeaderPerTerm(record),
    checkDurability(record),
    checkLinearizability(record, options.linearizability),
    checkLiveness(record),
  ]
}

/** The combined verdict: any violation wins, then any 'unknown', else 'ok'. */
export function overallVerdict(results: readonly CheckResult[]): CheckResult['verdict'] {
  if (results.some((r) => r.verdict === 'violation')) return 'violation'
  if (results.some((r) => r.verdict === 'unknown')) return 'unknown'
  return 'ok'
}
