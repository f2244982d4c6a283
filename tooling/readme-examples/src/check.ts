// The checks: a README's example blocks against their files and their real output.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path'
import { parseReadme, renderBlock, replaceBlocks } from './blocks.js'
import { DEFAULT_TIMEOUT_MS, runExample } from './run.js'

export interface CheckOptions {
  /** Rewrite the blocks from the files and their real output instead of comparing. */
  readonly write?: boolean
  readonly timeoutMs?: number
}

export interface ReadmeReport {
  readonly readme: string
  readonly examples: string[]
  readonly problems: string[]
  /** With `write`: the new README text (equal to the old one when nothing changed). */
  readonly rewritten?: string
}

/** Bare package names an example imports (`@synod/storage/node` → `@synod/storage`); node: built-ins excluded. */
export function importedPackages(source: string): string[] {
  const names = new Set<string>()
  for (const match of source.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\s)import\s*\(?\s*['"]([^'"]+)['"]/g)) {
    const specifier = match[1] ?? match[2]!
    if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) continue
    const parts = specifier.split('/')
    names.add(specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!)
  }
  return [...names].sort()
}

/** Packages named on `pnpm add` / `npm install` lines of the README's sh blocks. */
function installedPackages(readme: string): Set<string> {
  const names = new Set<string>()
  for (const line of readme.split('\n')) {
    const m = /^\s*(?:pnpm add|npm install|npm i|yarn add)\s+(.*)$/.exec(line)
    if (m === null) continue
    for (const word of m[1]!.replace(/#.*/, '').split(/\s+/)) if (word !== '' && !word.startsWith('-')) names.add(word.replace(/(.)@[^/]*$/, '$1'))
  }
  return names
}

/** The package folder's `files` list, or undefined when there is no package.json. */
function shippedEntries(dir: string): string[] | undefined {
  const path = join(dir, 'package.json')
  if (!existsSync(path)) return undefined
  const files = (JSON.parse(readFileSync(path, 'utf8')) as { files?: unknown }).files
  return Array.isArray(files) ? files.map(String) : []
}

export async function checkReadme(readme: string, options: CheckOptions = {}): Promise<ReadmeReport> {
  const text = readFileSync(readme, 'utf8')
  const dir = dirname(readme)
  const parsed = parseReadme(text)
  const problems = [...parsed.problems]
  if (parsed.blocks.length === 0 && parsed.problems.length === 0 && parsed.looseTsBlocks.length > 0) {
    problems.push(
      `has a \`\`\`ts block (line ${parsed.looseTsBlocks[0]}) but no "<!-- example: examples/<name>.ts -->" block: ` +
        'the main example must be a real file that is run (see tooling/readme-examples)',
    )
  }
  const installed = installedPackages(text)
  const shipped = shippedEntries(dir)
  const replacements = []
  for (const block of parsed.blocks) {
    const where = `example ${block.file} (line ${block.start + 1})`
    const path = normalize(join(dir, block.file))
    if (isAbsolute(block.file) || relative(dir, path).startsWith('..')) {
      problems.push(`${where}: the file must be inside the package folder`)
      continue
    }
    if (!existsSync(path)) {
      problems.push(`${where}: file not found`)
      continue
    }
    const code = readFileSync(path, 'utf8')
    if (code.split('\n').some((line) => line.startsWith('```'))) {
      problems.push(`${where}: the file contains a \`\`\` line, which would end the README's code block`)
      continue
    }
    const top = relative(dir, path).split(sep)[0]!
    if (shipped !== undefined && !shipped.some((entry) => entry.replace(/\/$/, '') === top)) {
      problems.push(`${where}: "${top}" is not in package.json "files", so the example is not shipped`)
    }
    for (const name of importedPackages(code)) {
      if (!installed.has(name)) problems.push(`${where}: imports ${name}, which no install line (pnpm add ...) of the README lists`)
    }
    if (!options.write && block.code !== code) {
      problems.push(`${where}: the README's code block differs from the file (run \`pnpm readme:examples --write\`)${firstDifference(block.code, code)}`)
    }
    const run = await runExample(path, dir, options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    if (!run.ok) {
      problems.push(`${where}: running it failed: ${run.failure}`)
      continue
    }
    if (run.stdout !== '' && !run.stdout.endsWith('\n')) {
      problems.push(`${where}: its output does not end with a newline (print with console.log)`)
      continue
    }
    if (options.write) replacements.push({ block, text: renderBlock(block.file, code, run.stdout) })
    else if (block.output !== run.stdout) {
      problems.push(`${where}: the README's output block differs from what it prints (run \`pnpm readme:examples --write\`)${firstDifference(block.output, run.stdout)}`)
    }
  }
  return {
    readme,
    examples: parsed.blocks.map((b) => b.file),
    problems,
    ...(options.write ? { rewritten: replaceBlocks(text, replacements) } : {}),
  }
}

/** The first differing line, so a failure says where without printing both texts. */
function firstDifference(readme: string, actual: string): string {
  const a = readme.split('\n')
  const b = actual.split('\n')
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return `\n  line ${i + 1} of the block: ${JSON.stringify(a[i] ?? '<none>')}\n  line ${i + 1} of the real one: ${JSON.stringify(b[i] ?? '<none>')}`
  }
  return ''
}

/** Every packages/<name>/README.md of the repository. */
export function packageReadmes(root: string): string[] {
  const packages = join(root, 'packages')
  return readdirSync(packages, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packages, entry.name, 'README.md')))
    .map((entry) => join(packages, entry.name, 'README.md'))
    .sort()
}
