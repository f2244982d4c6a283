import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { reduceScenario, useConformanceCrypto, scenarioApplies, scenarios as shippedScenarios, type Capability, type Scenario } from '@synod/conformance'
import type { ProtocolFactory } from '@synod/core'
import { parseRunnerArguments, UsageError, USAGE } from './args.js'
import { CLUSTER_USAGE, parseClusterArguments } from './cluster/args.js'
import { planMatrix, runMatrix, type ProtocolOffer } from './matrix.js'
import { ProgressBar, type ProgressStream } from './progress.js'
import {
  DEFAULT_PROTOCOLS,
  protocolCapabilities,
  protocolExtras,
  protocolRegistry,
  ProtocolUnavailableError,
  type ProtocolExtrasLoader,
  type ProtocolRegistry,
} from './registry.js'
import { buildJsonReport } from './report-json.js'
import { renderHtmlReport } from './report-html.js'
import type { RunResult } from './run-result.js'
import { describeRunFailure, describeRunFailureBriefly, describeSkipped, formatSummaryTable, summarize } from './summary.js'

export interface RunnerEnvironment {
  readonly stdout: { write(chunk: string): unknown }
  readonly stderr: ProgressStream
  readonly registry: ProtocolRegistry
  /** What --protocol defaults to. */
  readonly defaultProtocols: readonly string[]
  readonly scenarios: readonly Scenario[]
  /** Capabilities by protocol name; scenarios that require one run only for protocols that have it. */
  readonly capabilities: ReadonlyMap<string, readonly Capability[]>
  /** Protocols' own adversaries and scenarios, by protocol name. */
  readonly extras: ReadonlyMap<string, ProtocolExtrasLoader>
  /** Clock for the report header; injectable so tests are deterministic. */
  readonly now: () => Date
}

/** Failing runs described in full; beyond this only one line each. */
const DETAILED_FAILURES = 5

/**
 * The whole CLI as a function: parse, run the matrix, print, write reports.
 * Returns the exit status: 0 no violation, 1 a violation, 2 a usage error
 * or a protocol that cannot be loaded.
 */
export async function main(argv: readonly string[], environment: Partial<RunnerEnvironment> = {}): Promise<number> {
  const env: RunnerEnvironment = {
    stdout: environment.stdout ?? process.stdout,
    stderr: environment.stderr ?? process.stderr,
    registry: environment.registry ?? protocolRegistry,
    defaultProtocols: environment.defaultProtocols ?? DEFAULT_PROTOCOLS,
    scenarios: environment.scenarios ?? shippedScenarios,
    capabilities: environment.capabilities ?? protocolCapabilities,
    extras: environment.extras ?? protocolExtras,
    now: environment.now ?? (() => new Date()),
  }
  try {
    return await run(argv, env)
  } catch (error) {
    if (error instanceof UsageError) {
      env.stderr.write(`synod-conformance: ${error.message}\n\n${argv.includes('--cluster') ? CLUSTER_USAGE : USAGE}`)
      return 2
    }
    if (error instanceof ProtocolUnavailableError) {
      env.stderr.write(`synod-conformance: ${error.message}\n`)
      return 2
    }
    throw error
  }
}

async function run(argv: readonly string[], env: RunnerEnvironment): Promise<number> {
  if (argv.includes('--cluster')) return await runCluster(argv, env)
  const args = parseRunnerArguments(argv)
  if (args.help) {
    env.stdout.write(USAGE)
    return 0
  }
  if (args.list) {
    env.stdout.write(listing(env))
    return 0
  }

  useConformanceCrypto(args.crypto)
  const protocolNames = args.protocols ?? env.defaultProtocols
  const unknownProtocols = protocolNames.filter((name) => !env.registry.has(name))
  if (unknownProtocols.length > 0)
    throw new UsageError(`unknown protocol ${unknownProtocols.map((n) => `'${n}'`).join(', ')}; known: ${[...env.registry.keys()].join(', ')}`)
  const factories: ProtocolFactory<unknown>[] = []
  const offers = new Map<string, ProtocolOffer & { readonly ownScenarios: readonly Scenario[] }>()
  for (const name of protocolNames) {
    factories.push(await env.registry.get(name)!())
    const extras = (await env.extras.get(name)?.()) ?? {}
    offers.set(name, {
      capabilities: env.capabilities.get(name) ?? [],
      ...(extras.adversary === undefined ? {} : { adversary: extras.adversary }),
      ...(extras.protocolOptions === undefined ? {} : { protocolOptions: extras.protocolOptions }),
      ...(extras.clients === undefined ? {} : { clients: extras.clients }),
      ownScenarios: extras.scenarios ?? [],
    })
  }
  const ownScenarios = [...offers.values()].flatMap((o) => o.ownScenarios)
  const chosenScenarios = selectScenarios(args.scenarios, [...env.scenarios, ...ownScenarios])
  if (args.reduction !== undefined)
    for (const scenario of chosenScenarios) {
      try {
        reduceScenario(scenario, args.reduction)
      } catch (error) {
        throw new UsageError(`cannot reduce '${scenario.name}': ${(error as Error).message}`)
      }
    }

  const capabilitiesOf = (protocol: string) => env.capabilities.get(protocol) ?? []
  // A protocol's own scenarios run for it alone (when chosen: by name, or with --scenario all).
  const shared = chosenScenarios.filter((s) => !ownScenarios.includes(s))
  const plan = planMatrix(factories, shared, args.seeds, (protocol) => {
    const offer = offers.get(protocol)!
    return { ...offer, scenarios: offer.ownScenarios.filter((s) => chosenScenarios.includes(s)) }
  })
  if (args.scenarios !== 'all')
    for (const scenario of chosenScenarios) {
      if (ownScenarios.includes(scenario)) continue
      if (!factories.some((f) => scenario.faultModel === 'any' || scenario.faultModel === f.faultModel))
        env.stderr.write(`note: scenario '${scenario.name}' is for ${scenario.faultModel} protocols; none was chosen\n`)
      else if (!factories.some((f) => scenarioApplies(scenario, capabilitiesOf(f.name))))
        env.stderr.write(`note: scenario '${scenario.name}' requires ${(scenario.requires ?? []).join(', ')}; no chosen protocol has it\n`)
    }
  if (plan.runs.length === 0) throw new UsageError('nothing to run: no chosen scenario fits the chosen protocols')

  const startedWall = performance.now()
  const progress = new ProgressBar(env.stderr, plan.runs.length)
  const results = await runMatrix(plan, {
    ...(args.nodes === undefined ? {} : { nodes: args.nodes }),
    ...(args.reduction === undefined ? {} : { reduction: args.reduction }),
    shrinkRuns: args.shrinkRuns,
    onResult: (result) => progress.advance(`${result.protocol} × ${result.scenario} × seed ${result.seed}`, result.verdict),
  })
  progress.finish()
  const wallSeconds = (performance.now() - startedWall) / 1000

  const command = ['synod-conformance', ...argv].join(' ')
  const failing = results.filter((r) => r.verdict === 'violation')
  const skipped = results.filter((r) => r.verdict === 'skipped').length
  if (args.json) {
    env.stdout.write(`${JSON.stringify(buildJsonReport(results, { command }), null, 2)}\n`)
  } else {
    const rows = summarize(results)
    env.stdout.write(formatSummaryTable(rows))
    env.stdout.write(
      `\n${results.length - skipped} runs in ${wallSeconds.toFixed(1)} s: ${failing.length} with violations, ${results.filter((r) => r.verdict === 'unknown').length} undecided${skipped === 0 ? '' : `, ${skipped} skipped`}\n`,
    )
    env.stdout.write(describeSkipped(rows))
    env.stdout.write(failureText(failing))
  }

  if (args.reportDir !== undefined) {
    const generatedAt = env.now().toISOString()
    await mkdir(args.reportDir, { recursive: true })
    const jsonPath = join(args.reportDir, 'report.json')
    const htmlPath = join(args.reportDir, 'report.html')
    await writeFile(jsonPath, `${JSON.stringify(buildJsonReport(results, { command, generatedAt }))}\n`)
    await writeFile(htmlPath, renderHtmlReport(results, { command, generatedAt }))
    env.stderr.write(`wrote ${jsonPath} and ${htmlPath}\n`)
  }
  return failing.length > 0 ? 1 : 0
}

function selectScenarios(requested: readonly string[] | 'all', available: readonly Scenario[]): Scenario[] {
  if (requested === 'all') return [...available]
  const unknown = requested.filter((name) => !available.some((s) => s.name === name))
  if (unknown.length > 0)
    throw new UsageError(`unknown scenario ${unknown.map((n) => `'${n}'`).join(', ')}; known: ${available.map((s) => s.name).join(', ')}`)
  return requested.map((name) => available.find((s) => s.name === name)!)
}

function failureText(failing: readonly RunResult[]): string {
  if (failing.length === 0) return ''
  const lines = ['', 'violations:']
  failing.forEach((result, i) => lines.push(i < DETAILED_FAILURES ? describeRunFailure(result) : describeRunFailureBriefly(result)))
  return `${lines.join('\n')}\n`
}

function listing(env: RunnerEnvironment): string {
  const width = Math.max(...env.scenarios.map((s) => s.name.length))
  return [
    `protocols: ${[...env.registry.keys()].join(', ')} (default: ${env.defaultProtocols.join(',')})`,
    '',
    'scenarios:',
    ...env.scenarios.map((s) => `  ${s.name.padEnd(width)}  [${s.faultModel}${s.requires === undefined ? '' : `; requires ${s.requires.join(', ')}`}] ${s.description}`),
    '',
  ].join('\n')
}

/** `--cluster`: one live run against real daemons (src/cluster/). Loaded only then: it starts processes. */
async function runCluster(argv: readonly string[], env: RunnerEnvironment): Promise<number> {
  const args = parseClusterArguments(argv)
  if (args.help) {
    env.stdout.write(CLUSTER_USAGE)
    return 0
  }
  const { runClusterTest } = await import('./cluster/run.js')
  const outcome = await runClusterTest(args, env.stdout, `synod-conformance ${argv.join(' ')}`)
  return outcome.status
}
