// The README example, kept type-checked and running: Multi-Paxos through core's Replica on the
// deterministic simulator (@synod/transport-memory), with a read ordered through the log.
import { membershipOf, utf8, type StateMachine } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { expect, it } from 'vitest'
import { paxos } from '../src/index.js'

// --- README example start ---
/** A state machine that remembers every command; a read (ordered like a command) returns how many there are. */
class CommandLog implements StateMachine {
  commands: string[] = []
  apply(command: Uint8Array): Uint8Array {
    if (command.byteLength === 0) return utf8(String(this.commands.length)) // a read
    this.commands.push(new TextDecoder().decode(command))
    return utf8(`ok ${this.commands.length}`)
  }
  query(): Uint8Array {
    return utf8(String(this.commands.length))
  }
  snapshot(): Uint8Array {
    return utf8(JSON.stringify(this.commands))
  }
  restore(snapshot: Uint8Array): void {
    this.commands = JSON.parse(new TextDecoder().decode(snapshot)) as string[]
  }
}

async function example(): Promise<string[]> {
  const sim = new Simulation({ seed: 1 })
  const ids = ['n1', 'n2', 'n3']
  const nodes = ids.map((id) =>
    sim.addNode({
      id,
      factory: paxos,
      protocolOptions: { electionTimeoutMs: 150, heartbeatIntervalMs: 50, snapshotEvery: 1000 },
      membership: membershipOf(ids),
      storage: memoryStorage(),
      createStateMachine: () => new CommandLog(),
    }),
  )
  for (const node of nodes) await node.start()
  // Until every node knows the leader (its first heartbeat arrived).
  await sim.runUntil(() => nodes.every((n) => n.replica?.status().leader !== undefined), 2000)
  const follower = nodes.find((n) => n.replica?.status().role !== 'leader')!.replica!

  const decode = (b: Uint8Array) => new TextDecoder().decode(b)
  const written = follower.propose(utf8('hello')) // a follower forwards it to the leader
  await sim.runFor(100) // virtual time: the simulator delivers messages and fires timers
  const writeResult = decode((await written).result)
  const read = follower.read(new Uint8Array(0)) // linearizable: ordered through the log
  await sim.runFor(100)
  return [writeResult, decode((await read).result)]
}
// --- README example end ---

it('the README example runs: a write and a linearizable read through a follower of a simulated 3-node cluster', async () => {
  const [written, read] = await example()
  expect(written).toBe('ok 1')
  expect(read).toBe('1')
})
