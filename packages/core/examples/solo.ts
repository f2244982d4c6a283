import {
  bufferedSnapshotWriter, CONTRACT_VERSION, fromUtf8, membershipOf, Replica, systemClock, systemRandom, utf8,
  type LogEntry, type ProtocolFactory, type StateMachine, type Storage, type Transport,
} from '@synod/core'

// A one-node "protocol" that commits every proposal at once.
const solo: ProtocolFactory = {
  contract: CONTRACT_VERSION,
  name: 'solo',
  faultModel: 'crash',
  maxFaulty: () => 0,
  create: (ctx) => {
    let index = ctx.storage.lastIndex()
    return {
      start() {},
      receive() {},
      propose(command, client) {
        index += 1
        ctx.storage.append([{ index, term: 0, data: command }])
        ctx.commit({ index, command, client })
      },
      status: () => ({ id: ctx.self, role: 'leader', term: 0, leader: ctx.self, commitIndex: index, lastIndex: index, membership: ctx.membership }),
      stop() {},
    }
  },
}

// The Replica needs only core's contracts. Real ones: @synod/transport-*, @synod/storage, @synod/kv;
// here the smallest that a single node allows: a transport with no peers, a log in an array.
const transport: Transport = { self: 'n1', send() {}, onMessage() {}, start: async () => {}, stop: async () => {} }
const log: LogEntry[] = []
const storage: Storage = {
  getHardState: () => undefined, setHardState() {},
  firstIndex: () => 1, lastIndex: () => log.length, term: (i) => (i === 0 ? 0 : log[i - 1]?.term), entry: (i) => log[i - 1],
  entries: (from, to) => log.slice(from - 1, to - 1), append: (entries) => void log.push(...entries),
  truncateSuffix: (from) => void log.splice(from - 1), compactPrefix() {}, snapshot: () => undefined, saveSnapshot() {},
  beginSnapshot: (index, term, meta) => bufferedSnapshotWriter(index, term, meta, () => {}),
  hasPendingWrites: () => false, sync: async () => {}, close: async () => {},
}
class Greeter implements StateMachine {
  apply = (command: Uint8Array, index: number) => utf8(`${fromUtf8(command)} (index ${index})`)
  query = () => new Uint8Array(0)
  snapshot = () => new Uint8Array(0)
  restore() {}
}

const replica = new Replica({
  factory: solo,
  self: 'n1',
  membership: membershipOf(['n1']),
  transport, storage, stateMachine: new Greeter(),
  clock: systemClock(),
  random: systemRandom(),
})
await replica.start()
const { index, result } = await replica.propose(utf8('hello'))
console.log(`committed at index ${index}: ${fromUtf8(result)}`)
console.log(`commit index ${replica.status().commitIndex}, ${log.length} entry in the log`)
await replica.stop()
