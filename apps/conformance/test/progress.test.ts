import { describe, expect, it } from 'vitest'
import { ProgressBar } from '../src/progress.js'

function fakeStream(isTTY: boolean) {
  const chunks: string[] = []
  return { chunks, stream: { isTTY, columns: 200, write: (chunk: string) => chunks.push(chunk) } }
}

describe('ProgressBar', () => {
  it('redraws one line on a terminal', () => {
    const { chunks, stream } = fakeStream(true)
    const bar = new ProgressBar(stream, 4)
    bar.advance('a', 'ok')
    bar.advance('b', 'violation')
    bar.finish()
    expect(chunks).toHaveLength(3)
    expect(chunks[0]).toBe(`\r[######${'.'.repeat(18)}]  25% 1/4 runs, 0 violations — a\u001b[K`)
    expect(chunks[1]).toContain('2/4 runs, 1 violation — b')
    expect(chunks[2]).toBe('\n')
  })

  it('prints the first run and then a line every 10% without a terminal', () => {
    const { chunks, stream } = fakeStream(false)
    const bar = new ProgressBar(stream, 100)
    for (let i = 0; i < 100; i++) bar.advance(`run ${i}`, 'ok')
    bar.finish()
    expect(chunks).toHaveLength(11) // the first run, then every 10%
    expect(chunks.every((c) => c.endsWith('\n') && !c.includes('\r'))).toBe(true)
    expect(chunks.at(-1)).toContain('100% 100/100 runs')
  })
})
