import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { protocolRegistry } from '../registry.js'
import { renderChart } from './chart.js'
import { comparisonTable, markdownReport } from './markdown.js'
import { DEFAULT_WORKLOAD, type Workload } from './measure.js'
import { BENCH_PROTOCOLS } from './plan.js'
import { replaceReadmeTable } from './readme-table.js'
import type { BenchReport } from './results.js'
import { report as benchKitReport } from '@synod/bench-kit'
import { benchResults } from './bench-results.js'
import { runBench } from './run.js'

export const BENCH_USAGE = `Usage: pnpm bench:protocols [options]

Runs every protocol through the same workload on the same simulated network (1 ms per message, no faults,
then a leader crash and a slow link) and writes protocols.md, protocols.json and protocols.svg.

  --protocol <a,b>   protocols to measure (default: ${BENCH_PROTOCOLS.join(',')})
  --nodes <n,m>      cluster sizes (default: 3,4,5,7 for crash protocols, 4,7 for Byzantine ones)
  --out <dir>        where to write (default: docs/benchmarks; only then is README.md's table replaced too)
  --quick            a small workload (smoke runs)
  --render-only      measure nothing: rewrite the Markdown, the SVG and the README table from <out>/protocols.json
  --help
`

const DEFAULT_OUT = 'docs/benchmarks'

const QUICK: Workload = {
  lowLoadOps: 40,
  loadOps: 200,
  loadClients: 16,
  idleMs: 500,
  warmupOps: 5,
  wallClients: 64,
  wallWarmupMs: 200,
  wallMeasureMs: 500,
}

export interface BenchArguments {
  readonly protocols: readonly string[]
  readonly sizes?: readonly number[]
  readonly out: string
  readonly workload: Workload
  readonly help: boolean
  readonly renderOnly: boolean
}

export function parseBenchArguments(argv: readonly string[]): BenchArguments {
  let protocols: readonly string[] = BENCH_PROTOCOLS
  let sizes: number[] | undefined
  let out = DEFAULT_OUT
  let workload = DEFAULT_WORKLOAD
  let help = false
  let renderOnly = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new RangeError(`${arg} needs a value`)
      return next
    }
    if (arg === '--protocol') protocols = value().split(',').filter((p) => p !== '')
    else if (arg === '--nodes') {
      sizes = value().split(',').map(Number)
      if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new RangeError(`--nodes takes positive integers, got ${sizes.join(',')}`)
    } else if (arg === '--out') out = value()
    else if (arg === '--quick') workload = QUICK
    else if (arg === '--render-only') renderOnly = true
    else if (arg === '--help' || arg === '-h') help = true
    else throw new RangeError(`unknown option ${arg}`)
  }
  return { protocols, ...(sizes === undefined ? {} : { sizes }), out, workload, help, renderOnly }
}

/** The CLI as a function: 0 done, 2 a usage error. */
export async function benchMain(argv: readonly string[], io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } } = process): Promise<number> {
  let args: BenchArguments
  try {
    args = parseBenchArguments(argv)
  } catch (error) {
    io.stderr.write(`bench:protocols: ${(error as Error).message}\n\n${BENCH_USAGE}`)
    return 2
  }
  if (args.help) {
    io.stdout.write(BENCH_USAGE)
    return 0
  }
  const unknown = args.protocols.filter((p) => !protocolRegistry.has(p))
  if (unknown.length > 0) {
    io.stderr.write(`bench:protocols: unknown protocol ${unknown.join(', ')}; known: ${[...protocolRegistry.keys()].join(', ')}\n`)
    return 2
  }
  const started = performance.now()
  const report: BenchReport = args.renderOnly
    ? (JSON.parse(await readFile(join(args.out, 'protocols.json'), 'utf8')) as BenchReport)
    : await runBench({
        factories: await Promise.all(args.protocols.map((p) => protocolRegistry.get(p)!())),
        ...(args.sizes === undefined ? {} : { sizes: args.sizes }),
        workload: args.workload,
        command: ['pnpm bench:protocols', ...argv].join(' '),
        onProgress: (step, total, label) => io.stderr.write(`[${step}/${total}] ${label} (${Math.round((performance.now() - started) / 1000)} s)\n`),
      })
  await mkdir(args.out, { recursive: true })
  const markdown = markdownReport(report)
  await writeFile(join(args.out, 'protocols.md'), markdown)
  if (!args.renderOnly) await writeFile(join(args.out, 'protocols.json'), `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(join(args.out, 'protocols.svg'), renderChart(report))
  // The shared bench format (bench-results/protocols.json), as every package bench writes it.
  if (args.out === DEFAULT_OUT) benchKitReport('protocols', benchResults(report))
  // The README shows the committed table: refresh it when the committed files are what was written.
  let readme = ''
  if (args.out === DEFAULT_OUT) {
    const text = await readFile('README.md', 'utf8').catch(() => undefined)
    const updated = text === undefined ? undefined : replaceReadmeTable(text, comparisonTable(report))
    if (updated !== undefined) {
      await writeFile('README.md', updated)
      readme = ' and the table in README.md'
    }
  }
  io.stdout.write(`${markdown}\nwrote ${join(args.out, 'protocols.md')}, ${args.renderOnly ? '' : 'protocols.json, '}protocols.svg${readme} in ${Math.round((performance.now() - started) / 1000)} s\n`)
  return 0
}
