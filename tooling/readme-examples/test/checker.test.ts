// The checker rejects what it promises to reject: each case starts from a README that passes and breaks one thing.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { parseReadme } from '../src/blocks.js'
import { checkReadme, importedPackages } from '../src/check.js'

const EXAMPLE = "import { join } from 'node:path'\n\nconsole.log(join('a', 'b'))\nconsole.log({ ok: true })\n"
const OUTPUT = 'a/b\n{ ok: true }\n'

function readme(code = EXAMPLE, output = OUTPUT, file = 'examples/hello.ts'): string {
  return `# @x/pkg\n\n\`\`\`sh\npnpm add @x/pkg\n\`\`\`\n\n## Example\n\n<!-- example: ${file} -->\n\`\`\`ts\n${code}\`\`\`\n<!-- output -->\n\`\`\`text\n${output}\`\`\`\n<!-- /example -->\n\nMore text.\n`
}

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A package folder with a README, an example file and a package.json shipping `files`. */
function fixture(text: string, example: string | null = EXAMPLE, files = ['dist', 'src', 'examples']): string {
  const dir = mkdtempSync(join(tmpdir(), 'readme-examples-'))
  dirs.push(dir)
  mkdirSync(join(dir, 'examples'))
  if (example !== null) writeFileSync(join(dir, 'examples', 'hello.ts'), example)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@x/pkg', files }))
  writeFileSync(join(dir, 'README.md'), text)
  return join(dir, 'README.md')
}

describe('checkReadme', () => {
  it('passes a README whose block is the file and whose output is what the file prints', async () => {
    const report = await checkReadme(fixture(readme()))
    expect(report.problems).toEqual([])
    expect(report.examples).toEqual(['examples/hello.ts'])
  })

  it('rejects a code block that differs from the file, by one character', async () => {
    const report = await checkReadme(fixture(readme(EXAMPLE.replace("'b'", "'c'"))))
    expect(report.problems).toHaveLength(1)
    expect(report.problems[0]).toMatch(/code block differs from the file[\s\S]*line 3/)
  })

  it('rejects a code block that lost its last line or gained a trailing blank line', async () => {
    const lines = EXAMPLE.split('\n')
    expect((await checkReadme(fixture(readme(`${lines.slice(0, -2).join('\n')}\n`)))).problems[0]).toMatch(/code block differs/)
    expect((await checkReadme(fixture(readme(`${EXAMPLE}\n`)))).problems[0]).toMatch(/code block differs/)
  })

  it('rejects an output block that differs from what the file prints', async () => {
    const report = await checkReadme(fixture(readme(EXAMPLE, 'a/b\n{ ok: false }\n')))
    expect(report.problems).toHaveLength(1)
    expect(report.problems[0]).toMatch(/output block differs from what it prints[\s\S]*line 2/)
    expect((await checkReadme(fixture(readme(EXAMPLE, 'a/b\n')))).problems[0]).toMatch(/output block differs/)
  })

  it('rejects a block whose file is missing', async () => {
    const report = await checkReadme(fixture(readme(), null))
    expect(report.problems).toEqual(['example examples/hello.ts (line 9): file not found'])
  })

  it('rejects a file outside the package folder', async () => {
    const report = await checkReadme(fixture(readme(EXAMPLE, OUTPUT, '../elsewhere.ts')))
    expect(report.problems[0]).toMatch(/inside the package folder/)
  })

  it('rejects an example that fails or never finishes', async () => {
    const throwing = "console.log('before')\nthrow new Error('boom')\n"
    const failed = await checkReadme(fixture(readme(throwing, 'before\n'), throwing))
    expect(failed.problems[0]).toMatch(/running it failed: exited with 1[\s\S]*boom/)
    const hanging = 'setInterval(() => {}, 1000)\n'
    const hung = await checkReadme(fixture(readme(hanging, ''), hanging), { timeoutMs: 3_000 })
    expect(hung.problems[0]).toMatch(/did not finish within 3000 ms/)
  })

  it('rejects a ```ts block with no example marker at all, so a new package cannot skip it', async () => {
    const text = '# @x/new\n\n```ts\nconsole.log(1)\n```\n'
    const report = await checkReadme(fixture(text))
    expect(report.problems).toHaveLength(1)
    expect(report.problems[0]).toMatch(/```ts block \(line 3\) but no "<!-- example/)
    // Other code blocks (sh, text, mermaid) need no example.
    expect((await checkReadme(fixture('# @x/new\n\n```sh\npnpm add @x/new\n```\n'))).problems).toEqual([])
  })

  it('rejects malformed markers instead of skipping them', async () => {
    const noOutput = readme().replace('<!-- output -->\n', '')
    expect((await checkReadme(fixture(noOutput))).problems[0]).toMatch(/expected "<!-- output -->"/)
    const notTs = readme().replace('```ts', '```js')
    expect((await checkReadme(fixture(notTs))).problems[0]).toMatch(/expected "```ts"/)
    const unclosed = readme().replace('<!-- /example -->', '')
    expect((await checkReadme(fixture(unclosed))).problems[0]).toMatch(/expected "<!-- \/example -->"/)
    const stray = `${readme()}\n<!-- example examples/hello.ts -->\n`
    expect((await checkReadme(fixture(stray))).problems[0]).toMatch(/stray or malformed example marker/)
  })

  it('rejects an example the package does not ship', async () => {
    const report = await checkReadme(fixture(readme(), EXAMPLE, ['dist', 'src']))
    expect(report.problems).toEqual(['example examples/hello.ts (line 9): "examples" is not in package.json "files", so the example is not shipped'])
  })

  it('rejects an example importing a package no install line lists', async () => {
    const code = `import type { X } from '@x/other/sub' // a type import: tsx drops it, so the file still runs\n${EXAMPLE}`
    const report = await checkReadme(fixture(readme(code), code))
    expect(report.problems).toEqual([expect.stringMatching(/imports @x\/other, which no install line/)])
    // Listed on a second install line, after a flag and before a comment: accepted.
    const listed = readme(code).replace('pnpm add @x/pkg\n', 'pnpm add @x/pkg\npnpm add -D @x/other   # for the example\n')
    expect((await checkReadme(fixture(listed, code))).problems).toEqual([])
  })

  it('--write turns a stale README into one that passes, and leaves the rest of the README alone', async () => {
    const path = fixture(readme("console.log('old')\n", 'old\n'))
    const report = await checkReadme(path, { write: true })
    expect(report.problems).toEqual([])
    expect(report.rewritten).toBe(readme())
    writeFileSync(path, report.rewritten!)
    expect((await checkReadme(path)).problems).toEqual([])
    expect(readFileSync(path, 'utf8')).toContain('More text.')
  })
})

describe('parseReadme and importedPackages', () => {
  it('finds blocks and ts blocks outside them, ignoring fences inside other blocks', () => {
    const parsed = parseReadme(`${readme()}\n\`\`\`md\n<!-- example: x.ts -->\n\`\`\`\n\n\`\`\`ts\nother()\n\`\`\`\n`)
    expect(parsed.problems).toEqual([])
    expect(parsed.blocks.map((b) => [b.file, b.code, b.output])).toEqual([['examples/hello.ts', EXAMPLE, OUTPUT]])
    expect(parsed.looseTsBlocks).toEqual([29])
  })

  it('names the packages an example imports', () => {
    const source = "import { a } from '@synod/core'\nimport type { B } from '@synod/storage/node'\nimport { randomBytes } from 'node:crypto'\nimport x from 'lodash/fp'\nimport './local.js'\nawait import('tsx')\n"
    expect(importedPackages(source)).toEqual(['@synod/core', '@synod/storage', 'lodash', 'tsx'])
  })
})
