// The protocol-purity rule (docs/architecture.md, "The one idea") must reject wall clock, randomness,
// timers and I/O planted in a protocol package, and must leave infrastructure
// packages alone.
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../..', import.meta.url))
const eslint = new ESLint({ cwd: root })

async function purityErrors(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}/${filePath}` })
  return result!.messages
    .filter((m) => m.ruleId?.startsWith('no-restricted') ?? false)
    .map((m) => m.message)
}

describe('protocol purity lint rule', () => {
  const planted: Array<[string, string]> = [
    ['Date.now()', 'export const t = Date.now()\n'],
    ['new Date()', 'export const t = new Date()\n'],
    ['Math.random()', 'export const r = Math.random()\n'],
    ['setTimeout', 'export const h = setTimeout(() => {}, 10)\n'],
    ['setInterval', 'export const h = setInterval(() => {}, 10)\n'],
    ['process', 'export const e = process.env\n'],
    ['node: import', "import { readFileSync } from 'node:fs'\nexport const f = readFileSync\n"],
    ['bare builtin import', "import { createHash } from 'crypto'\nexport const f = createHash\n"],
    ['globalThis escape hatch', 'export const g = globalThis.Date\n'],
  ]

  for (const [what, code] of planted) {
    it(`rejects ${what} in packages/raft/src`, async () => {
      const errors = await purityErrors(code, 'packages/raft/src/planted.ts')
      expect(errors.length, `no purity error for: ${code}`).toBeGreaterThan(0)
      expect(errors.join('\n')).toMatch(/deterministic|ProtocolContext/)
    })
  }

  it('applies to any future protocol package, not a fixed list', async () => {
    const errors = await purityErrors('export const t = Date.now()\n', 'packages/hotstuff/src/x.ts')
    expect(errors.length).toBeGreaterThan(0)
  })

  it('accepts pure protocol code', async () => {
    const code = 'export function quorum(n: number): number {\n  return Math.floor(n / 2) + 1\n}\n'
    expect(await purityErrors(code, 'packages/raft/src/quorum.ts')).toEqual([])
  })

  it('leaves infrastructure packages alone', async () => {
    const code = 'export const t = Date.now()\n'
    expect(await purityErrors(code, 'packages/transport-memory/src/clock.ts')).toEqual([])
    expect(await purityErrors(code, 'packages/core/src/system.ts')).toEqual([])
  })
})

describe('protocol purity: what protocols may import', () => {
  it('allows @synod/* packages whose names look like built-ins', async () => {
    const code = "import { sha256 } from '@synod/crypto'\nexport const h = sha256\n"
    expect(await purityErrors(code, 'packages/pbft/src/digest.ts')).toEqual([])
  })

  it('still rejects the bare built-in of the same name and its subpaths', async () => {
    expect((await purityErrors("import { webcrypto } from 'crypto'\nexport const w = webcrypto\n", 'packages/pbft/src/x.ts')).length).toBeGreaterThan(0)
    expect((await purityErrors("import { promises } from 'fs'\nexport const p = promises\n", 'packages/pbft/src/x.ts')).length).toBeGreaterThan(0)
  })
})
