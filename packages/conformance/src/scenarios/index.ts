import type { Scenario } from '../scenario.js'
import { byzantineScenarios } from './byzantine.js'
import { crashScenarios } from './crash.js'

export { byzantineScenarios } from './byzantine.js'
export { crashScenarios } from './crash.js'

/** Every shipped scenario. */
export const scenarios: readonly Scenario[] = [...crashScenarios, ...byzantineScenarios]

export function scenarioByName(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name)
}

/** The scenarios that apply to a protocol of this fault model. */
export function scenariosFor(faultModel: 'crash' | 'byzantine'): Scenario[] {
  return scenarios.filter((s) => s.faultModel === 'any' || s.faultModel === faultModel)
}
