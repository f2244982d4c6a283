// "Consensus in your browser tab": a 3-node Raft cluster on the deterministic
// simulated network, each node with in-memory storage and the replicated KV
// store — the same packages the daemon runs, none of them touching `node:`.
// test/browser-run.test.ts bundles this file for the browser with esbuild and
// runs it in headless Chromium; `page.html` shows how a page calls it.
import { membershipOf, utf8 } from '@synod/core'
import { decodeResult, kvCommands, KvStateMachine } from '@synod/kv'
import { raft } from '@synod/raft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'

export interface BrowserRunResult {
  readonly leader: string
  readonly putIndex: number
  /** The value read back linearizably after the write. */
  readonly value: string
  /** Every node applied the write (the followers too). */
  readonly appliedEverywhere: boolean
}

export async function runRaftInBrowser(seed = 1): Promise<BrowserRunResult> {
  const sim = new Simulation({ seed })
  const ids = ['n1', 'n2', 'n3']
  const nodes = ids.map((id) =>
    sim.addNode({
      id,
      factory: raft,
      protocolOptions: { electionTimeoutMs: 150, heartbeatIntervalMs: 50 },
      membership: membershipOf(ids),
      storage: memoryStorage(),
      createStateMachine: () => new KvStateMachine(),
    }),
  )
  for (const node of nodes) await node.start()
  await sim.runUntil(() => nodes.some((n) => n.replica?.status().role === 'leader'), 5000)
  const leaderNode = nodes.find((n) => n.replica?.status().role === 'leader')
  if (leaderNode === undefined) throw new Error('no leader elected within 5 s of virtual time')
  const leader = leaderNode.replica!
  const written = leader.propose(kvCommands.put('greeting', 'hello from the browser'))
  await sim.runFor(100) // virtual time
  const put = await written
  const read = leader.read(kvCommands.get('greeting'))
  await sim.runFor(100)
  const answer = decodeResult((await read).result)
  const value = answer.ok && answer.op === 'get' && answer.value instanceof Uint8Array ? new TextDecoder().decode(answer.value) : JSON.stringify(answer)
  await sim.runFor(200) // let the followers learn the commit
  const appliedEverywhere = nodes.every((n) => (n.replica?.status().commitIndex ?? 0) >= put.index)
  for (const node of nodes) await node.stop()
  return { leader: leaderNode.id, putIndex: put.index, value, appliedEverywhere }
}

// A marker the page checks: utf8 comes from core (proves core's entry loaded in the page too).
export const loaded = utf8('synod').byteLength === 5
