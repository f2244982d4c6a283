// pnpm readme:examples [--write] [README.md ...]
// Checks every package README's example blocks (default: packages/*/README.md), or with --write
// rewrites them from the example files and what they really print, so nobody edits them by hand.
import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { checkReadme, packageReadmes } from './check.js'

const { values, positionals } = parseArgs({ allowPositionals: true, options: { write: { type: 'boolean' } } })
const root = resolve(import.meta.dirname, '../../..')
const readmes = positionals.length > 0 ? positionals.map((p) => resolve(p)) : packageReadmes(root)
let failed = 0
for (const readme of readmes) {
  const report = await checkReadme(readme, { write: values.write === true })
  const name = readme.startsWith(root) ? readme.slice(root.length + 1) : readme
  if (report.rewritten !== undefined) writeFileSync(readme, report.rewritten)
  if (report.problems.length > 0) {
    failed++
    console.error(`✗ ${name}\n${report.problems.map((p) => `  - ${p}`).join('\n')}`)
  } else {
    console.log(`✓ ${name}${report.examples.length > 0 ? `: ${report.examples.join(', ')}${values.write ? ' (written)' : ''}` : ' (no example)'}`)
  }
}
process.exitCode = failed > 0 ? 1 : 0
