// The README's first command runs `synod cluster`; this is that command with
// --smoke: the cluster comes up, takes a write, every node reads it, and all
// processes shut down cleanly.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'

describe('synod cluster (the README demo)', () => {
  it('brings up 3 raft processes, writes and reads through every node, stops cleanly', async () => {
    let output = ''
    const out = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk)
        done()
      },
    })
    const code = await main(['cluster', '--protocol', 'raft', '--nodes', '3', '--smoke'], out)
    expect(output).toMatch(/client endpoints:/)
    expect(output).toMatch(/\(leader\)/)
    expect(output.match(/get greeting via node\d → hello-/g)).toHaveLength(3)
    expect(output).toMatch(/smoke test passed/)
    expect(output).toMatch(/stopped/)
    expect(code).toBe(0)
  }, 90_000)

  it('brings up 4 hotstuff processes (byzantine, n = 3f+1), writes and reads through every node, stops cleanly', async () => {
    let output = ''
    const out = new Writable({
      write(chunk, _encoding, done) {
        output += String(chunk)
        done()
      },
    })
    const code = await main(['cluster', '--protocol', 'hotstuff', '--nodes', '4', '--smoke'], out)
    expect(output).toMatch(/client endpoints:/)
    expect(output.match(/get greeting via node\d → hello-/g)).toHaveLength(4)
    expect(output).toMatch(/smoke test passed/)
    expect(output).toMatch(/stopped/)
    expect(code, output).toBe(0)
  }, 120_000)
})
