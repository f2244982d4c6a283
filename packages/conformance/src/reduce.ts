import { DEFAULT_WORKLOAD, type FaultStep, type Scenario } from './scenario.js'

/**
 * A smaller version of a named scenario, as the shrinker finds it and as a
 * reproduce command spells it (`--faults 0,2 --max-ops 40 --chaos-ms 900`):
 * which of the scenario's fault steps to keep (positions in its `chaos`
 * list), a lower operation cap and a shorter chaos phase. Everything else
 * (nodes, adversaries, workload mix, heal phase) stays as the scenario
 * defines it, so a seed plus a reduction replays one run exactly.
 */
export interface ScenarioReduction {
  /** Positions in `scenario.chaos` of the steps kept, ascending; undefined keeps every step. */
  readonly faults?: readonly number[]
  /** The workload's `maxOps`; undefined keeps the scenario's. */
  readonly maxOps?: number
  /** The chaos phase's length; undefined keeps the scenario's. Every kept step must come before it. */
  readonly chaosMs?: number
}

/** True when the reduction changes nothing. */
export function isEmptyReduction(reduction: ScenarioReduction | undefined): boolean {
  return reduction === undefined || (reduction.faults === undefined && reduction.maxOps === undefined && reduction.chaosMs === undefined)
}

/** The `ref` names a step refers to (targets, partition shapes). */
function refsOf(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return []
  const refs: string[] = []
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'ref' && typeof inner === 'string') refs.push(inner)
    else refs.push(...refsOf(inner))
  }
  return refs
}

/** The names a step gives (`as`, also inside a reconfigure step's changes). */
function namesOf(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return []
  const names: string[] = []
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'as' && typeof inner === 'string') names.push(inner)
    else names.push(...namesOf(inner))
  }
  return names
}

function nameOf(step: FaultStep): string[] {
  return namesOf(step)
}

/**
 * The scenario's fault steps in groups that can only be removed together: a
 * step that names a node (`as`) and every step that refers to that name
 * (`{ ref }`), e.g. a crash and its restart. Each group is a sorted list of
 * positions in `chaos`; groups are ordered by their first position.
 */
export function faultUnits(chaos: readonly FaultStep[]): number[][] {
  const parent = chaos.map((_, i) => i)
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)))
  const union = (a: number, b: number) => {
    const ra = find(a)
    const rb = find(b)
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb)
  }
  const namers = new Map<string, number[]>()
  chaos.forEach((step, i) => {
    for (const name of nameOf(step)) namers.set(name, [...(namers.get(name) ?? []), i])
  })
  chaos.forEach((step, i) => {
    for (const ref of refsOf(step)) for (const namer of namers.get(ref) ?? []) union(i, namer)
  })
  const groups = new Map<number, number[]>()
  chaos.forEach((_, i) => {
    const root = find(i)
    groups.set(root, [...(groups.get(root) ?? []), i])
  })
  return [...groups.values()].sort((a, b) => a[0]! - b[0]!)
}

/**
 * Apply a reduction to a scenario. Throws a RangeError for a reduction that
 * does not fit it: a position out of range, a kept step referring to a name
 * only a removed step gives, a step at or after the shortened chaos phase,
 * or a non-positive cap.
 */
export function reduceScenario(scenario: Scenario, reduction: ScenarioReduction | undefined): Scenario {
  if (isEmptyReduction(reduction)) return scenario
  const { faults, maxOps, chaosMs } = reduction!
  let chaos = scenario.chaos
  if (faults !== undefined) {
    const positions = [...new Set(faults)].sort((a, b) => a - b)
    for (const position of positions)
      if (!Number.isSafeInteger(position) || position < 0 || position >= scenario.chaos.length)
        throw new RangeError(`fault ${position} does not exist: scenario '${scenario.name}' has ${scenario.chaos.length} fault step(s) (0..${scenario.chaos.length - 1})`)
    chaos = positions.map((p) => scenario.chaos[p]!)
    const named = new Set<string>()
    for (const step of [...chaos].sort((a, b) => a.at - b.at)) {
      const names = nameOf(step)
      for (const ref of refsOf(step))
        if (!named.has(ref) && !names.includes(ref))
          throw new RangeError(`the kept fault steps refer to '${ref}', which only a removed step of '${scenario.name}' names`)
      for (const name of names) named.add(name)
    }
  }
  if (maxOps !== undefined && (!Number.isSafeInteger(maxOps) || maxOps < 1)) throw new RangeError(`maxOps must be a positive integer, got ${maxOps}`)
  if (chaosMs !== undefined) {
    if (!Number.isFinite(chaosMs) || chaosMs < 1) throw new RangeError(`chaosMs must be positive, got ${chaosMs}`)
    const late = chaos.find((step) => step.at >= chaosMs)
    if (late !== undefined) throw new RangeError(`a kept fault step (${late.kind} at ${late.at} ms) is not before the end of the chaos phase (${chaosMs} ms)`)
  }
  return {
    ...scenario,
    chaos,
    ...(chaosMs === undefined ? {} : { chaosMs }),
    ...(maxOps === undefined ? {} : { workload: { ...scenario.workload, maxOps } }),
  }
}

/** The workload cap a scenario runs with. */
export function scenarioMaxOps(scenario: Scenario): number {
  return scenario.workload?.maxOps ?? DEFAULT_WORKLOAD.maxOps
}

/** The command-line flags that spell a reduction (empty for none). */
export function reductionFlags(reduction: ScenarioReduction | undefined): string {
  if (reduction === undefined) return ''
  const flags: string[] = []
  if (reduction.faults !== undefined) flags.push(`--faults ${reduction.faults.length === 0 ? 'none' : [...reduction.faults].sort((a, b) => a - b).join(',')}`)
  if (reduction.maxOps !== undefined) flags.push(`--max-ops ${reduction.maxOps}`)
  if (reduction.chaosMs !== undefined) flags.push(`--chaos-ms ${reduction.chaosMs}`)
  return flags.join(' ')
}
