// The README's first command runs `synod cluster`; this is that command with
// --smoke: the cluster comes up, takes a write, every node reads it, and all
// processes shut down cleanly.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli.js'

// The demo makes your client key (~/.synod/client.key) its admin, creating it if absent: keep that out of $HOME here.
const home = mkdtempSync(join(tmpdir(), 'synod-demo-client-'))
process.env.SYNOD_CLIENT_KEY = join(home, 'client.key')
afterAll(() => rmSync(home, { recursive: true, force: true }))

/** `synod cluster --protocol P --nodes N --smoke`, its exit code and everything it printed. */
async function demo(protocol: string, nodes: number): Promise<{ code: number; output: string }> {
  let output = ''
  const out = new Writable({
    write(chunk, _encoding, done) {
      output += String(chunk)
      done()
    },
  })
  const code = await main(['cluster', '--protocol', protocol, '--nodes', String(nodes), '--smoke'], out)
  return { code, output }
}

describe('synod cluster (the README demo)', () => {
  it('brings up 3 raft processes, writes and reads through every node, stops cleanly', async () => {
    const { code, output } = await demo('raft', 3)
    expect(output).toMatch(/authentication: on; admin: your client key .*\(just created\)/)
    expect(existsSync(process.env.SYNOD_CLIENT_KEY!)).toBe(true)
    expect(output).toMatch(/client endpoints:/)
    expect(output).toMatch(/\(leader\)/)
    expect(output.match(/get greeting via node\d → hello-/g)).toHaveLength(3)
    expect(output).toMatch(/smoke test passed/)
    expect(output).toMatch(/stopped/)
    expect(code).toBe(0)
  }, 90_000)

  it('brings up 4 hotstuff processes (byzantine, n = 3f+1), writes and reads through every node, stops cleanly', async () => {
    const { code, output } = await demo('hotstuff', 4)
    expect(output).toMatch(/client endpoints:/)
    expect(output.match(/get greeting via node\d → hello-/g)).toHaveLength(4)
    expect(output).toMatch(/smoke test passed/)
    expect(output).toMatch(/stopped/)
    expect(code, output).toBe(0)
  }, 120_000)

  it('brings up 3 paxos processes (pnpm demo --protocol paxos --smoke), writes and reads through every node, stops cleanly', async () => {
    const { code, output } = await demo('paxos', 3)
    expect(output).toMatch(/client endpoints:/)
    expect(output).toMatch(/\(leader\)/)
    expect(output.match(/get greeting via node\d → hello-/g)).toHaveLength(3)
    expect(output).toMatch(/smoke test passed/)
    expect(code, output).toBe(0)
  }, 120_000)
})
