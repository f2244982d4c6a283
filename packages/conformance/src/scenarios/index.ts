import { scenarioApplies, type Capability, type Scenario } from '../scenario.js'
import { byzantineScenarios } from './byzantine.js'
import { crashScenarios } from './crash.js'
import { membershipScenarios } from './membership.js'

export { byzantineScenarios } from './byzantine.js'
export { crashScenarios } from './crash.js'
export { membershipScenarios } from './membership.js'

/** Every shipped scenario. */
export const scenarios: readonly Scenario[] = [...crashScenarios, ...membershipScenarios, ...byzantineScenarios]

export function scenarioByName(name: string): Scenario | undefined {
  return scenarios.find((s) => s.name === name)
}

/**
 * The scenarios that apply to a protocol of this fault model with these
 * capabilities: scenarios that require a capability (e.g. 'reconfigure')
 * are left out unless it is declared.
 */
export function scenariosFor(faultModel: 'crash' | 'byzantine', capabilities: readonly Capability[] = []): Scenario[] {
  return scenarios.filter((s) => (s.faultModel === 'any' || s.faultModel === faultModel) && scenarioApplies(s, capabilities))
}
