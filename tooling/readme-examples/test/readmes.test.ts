// Every package README: its example blocks equal their files, and their output blocks what the files print.
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkReadme, packageReadmes } from '../src/check.js'

const root = resolve(import.meta.dirname, '../../..')

describe('package READMEs', () => {
  for (const readme of packageReadmes(root)) {
    it(`${readme.slice(root.length + 1)}: example blocks are the files and their real output`, async () => {
      const report = await checkReadme(readme)
      expect(report.problems).toEqual([])
    })
  }
})
