// The layering check must fail on a cycle and on a protocol depending on another protocol.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const dirs: string[] = []

function fakeRepo(packages: Record<string, { deps?: string[]; files?: Record<string, string> }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'synod-layering-'))
  dirs.push(dir)
  mkdirSync(join(dir, 'scripts'))
  cpSync(join(root, 'scripts/check-cycles.mjs'), join(dir, 'scripts/check-cycles.mjs'))
  cpSync(join(root, 'eslint.config.js'), join(dir, 'eslint.config.js'))
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  for (const [folder, spec] of Object.entries(packages)) {
    const pkgDir = join(dir, 'packages', folder)
    mkdirSync(join(pkgDir, 'src'), { recursive: true })
    const dependencies = Object.fromEntries((spec.deps ?? []).map((d) => [`@synod/${d}`, 'workspace:*']))
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: `@synod/${folder}`, dependencies }))
    for (const [file, text] of Object.entries(spec.files ?? { 'index.ts': 'export const x = 1\n' }))
      writeFileSync(join(pkgDir, 'src', file), text)
  }
  return dir
}

function check(dir: string): { ok: boolean; output: string } {
  try {
    const output = execFileSync('node', ['scripts/check-cycles.mjs'], { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
    return { ok: true, output }
  } catch (error) {
    const e = error as { stderr: string; stdout: string }
    return { ok: false, output: `${e.stdout}${e.stderr}` }
  }
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('layering check', () => {
  it('passes a clean graph', () => {
    const dir = fakeRepo({ core: {}, raft: { deps: ['core'] } })
    expect(check(dir)).toMatchObject({ ok: true })
  })

  it('fails on a file cycle inside a package', () => {
    const dir = fakeRepo({
      core: {
        files: {
          'a.ts': "import { b } from './b.js'\nexport const a = () => b\n",
          'b.ts': "import { a } from './a.js'\nexport const b = () => a\n",
        },
      },
    })
    const result = check(dir)
    expect(result.ok).toBe(false)
    expect(result.output).toMatch(/file cycle in @synod\/core/)
  })

  it('fails on a cycle between packages and on a protocol importing a protocol', () => {
    const dir = fakeRepo({ core: { deps: ['kv'] }, kv: { deps: ['core'] }, raft: { deps: ['pbft'] }, pbft: {} })
    const result = check(dir)
    expect(result.ok).toBe(false)
    expect(result.output).toMatch(/package cycle/)
    expect(result.output).toMatch(/protocol @synod\/raft depends on protocol @synod\/pbft/)
  })
})
