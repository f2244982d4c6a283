import { CONTRACT_VERSION, membershipOf, utf8, type ProtocolFactory, type StateMachine } from '@synod/core'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'

// A toy protocol, not consensus: the node asked logs the command and sends it to its peers, which log it too.
const flood: ProtocolFactory = {
  contract: CONTRACT_VERSION,
  name: 'flood',
  faultModel: 'crash',
  maxFaulty: () => 0,
  create: (ctx) => {
    const log = (command: Uint8Array) => {
      const index = ctx.storage.lastIndex() + 1
      ctx.storage.append([{ index, term: 0, data: command }])
      return index
    }
    return {
      start() {},
      receive: (_from, command) => void ctx.commit({ index: log(command), command }),
      propose(command, client) {
        for (const peer of ctx.membership.voters) if (peer.id !== ctx.self) ctx.send(peer.id, command)
        ctx.commit({ index: log(command), command, client })
      },
      status: () => ({ id: ctx.self, role: 'flood', term: 0, leader: undefined, commitIndex: 0, lastIndex: 0, membership: ctx.membership }),
      stop() {},
    }
  },
}
const nothing: StateMachine = { apply: () => new Uint8Array(0), query: () => new Uint8Array(0), snapshot: () => new Uint8Array(0), restore() {} }

async function run(seed: number) {
  const sim = new Simulation({ seed })
  sim.network.setDefaultFaults({ dropRate: 0.1, duplicateRate: 0.02, reorderRate: 0.1, reorderMaxMs: 20 })
  const ids = ['n1', 'n2', 'n3']
  const logged = new Map(ids.map((id) => [id, 0]))
  const nodes = ids.map((id) =>
    sim.addNode({
      id,
      factory: flood,
      membership: membershipOf(ids),
      storage: memoryStorage(), // outlives crashes; crash() drops unsynced writes
      createStateMachine: () => nothing,
      syncLatencyMs: 1, // a sync takes virtual time, so a crash can land before it
      onCommit: () => logged.set(id, logged.get(id)! + 1),
    }),
  )
  for (const node of nodes) await node.start()

  sim.network.isolate('n1') // partition
  sim.schedule(500, () => sim.network.heal())
  sim.schedule(200, () => nodes[1]!.crash())
  sim.schedule(400, () => void nodes[1]!.start()) // new incarnation, same storage
  for (let i = 0; i < 20; i++) sim.schedule(i * 50, () => void nodes[i % 3]!.replica?.propose(utf8(`c${i}`)).catch(() => {}))

  await sim.runFor(2000)
  return { logged: Object.fromEntries(logged), network: sim.network.stats, traceHash: sim.traceHash() }
}

console.log(await run(17))
console.log((await run(17)).traceHash) // equal seeds, equal runs
console.log((await run(18)).traceHash)
