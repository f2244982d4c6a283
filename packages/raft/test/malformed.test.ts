// Malformed and unknown messages are refused with InvalidMessageError and change nothing.
import { InvalidMessageError } from '@synod/core'
import { describe, expect, it } from 'vitest'
import { decodeMembership, decodeMessage, encodeMembership, encodeMessage, MessageType, type RaftMessage } from '../src/index.js'
import { configEntryData, forwardedEntryData } from '../src/entry.js'
import { seededRandom, TestCluster } from './helpers/cluster.js'

const limits = { maxEntryBytes: 1024, maxSnapshotBytes: 1 << 20 }
const entry = (index: number, term: number, body = [0, 1, 2]) => ({ index, term, data: new Uint8Array(body) })

const samples: RaftMessage[] = [
  { type: MessageType.Append, term: 5, prevIndex: 3, prevTerm: 4, commit: 2, entries: [entry(4, 4), entry(5, 5, [1])] },
  { type: MessageType.AppendResponse, term: 5, reject: true, index: 9, hintIndex: 7, hintTerm: 3 },
  { type: MessageType.Vote, term: 2 ** 40, lastIndex: 2 ** 52, lastTerm: 7, preVote: true, transfer: false },
  { type: MessageType.VoteResponse, term: 1, granted: true, preVote: false },
  { type: MessageType.Heartbeat, term: 3, commit: 10, context: 4 },
  { type: MessageType.HeartbeatResponse, term: 3, context: 4 },
  {
    type: MessageType.Snapshot,
    term: 3,
    index: 10,
    snapshotTerm: 2,
    totalBytes: 5,
    offset: 2,
    checksum: 0xdeadbeef,
    meta: encodeMeta(),
    chunk: new Uint8Array([1, 2, 3]),
  },
  {
    type: MessageType.Snapshot,
    term: 3,
    index: 10,
    snapshotTerm: 2,
    totalBytes: 5,
    offset: 0,
    checksum: 7,
    meta: encodeJointMeta(),
    chunk: new Uint8Array([1, 2, 3]),
  },
  {
    type: MessageType.Append,
    term: 5,
    prevIndex: 3,
    prevTerm: 4,
    commit: 2,
    entries: [{ index: 4, term: 5, data: configEntryData(decodeMembership(encodeJointMeta())) }],
  },
  { type: MessageType.SnapshotResponse, term: 3, index: 10, nextOffset: 5 },
  { type: MessageType.TimeoutNow, term: 9 },
  { type: MessageType.Propose, term: 4, nonce: 2 ** 52, firstCounter: 17, commands: [new Uint8Array([1, 2]), new Uint8Array(0)] },
  { type: MessageType.ProposeReject, term: 4, nonce: 99, firstCounter: 17, count: 2, reason: 1, leader: 'node-b' },
  { type: MessageType.ReadIndex, term: 4, nonce: 2 ** 52, counter: 3 },
  { type: MessageType.ReadIndexResponse, term: 4, nonce: 7, counter: 3, reject: false, index: 12, leader: '' },
  { type: MessageType.ReadIndexResponse, term: 4, nonce: 7, counter: 3, reject: true, index: 0, leader: 'node-b' },
]

function encodeMeta(): Uint8Array {
  // epoch 0, one voter 'a' with an empty key and empty meta, no learners
  return new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 97, 0, 0, 0, 0, 0, 0, 0, 0])
}

function encodeJointMeta(): Uint8Array {
  // The same, joint (joint consensus): then outgoing voters 'a' and 'b'
  return new Uint8Array([...encodeMeta(), 0, 0, 0, 2, 0, 1, 97, 0, 0, 0, 0, 0, 1, 98, 0, 0, 0, 0])
}

describe('membership codec', () => {
  const key = new Uint8Array([7])
  const joint = {
    epoch: 4,
    voters: [{ id: 'a', publicKey: key }, { id: 'd', publicKey: key, meta: new Uint8Array([1]) }],
    learners: [{ id: 'c', publicKey: key }],
    outgoing: [{ id: 'a', publicKey: key }, { id: 'b', publicKey: key }, { id: 'c', publicKey: key }],
  }

  it('encodes a configuration that is not joint exactly as before joint consensus, and a joint one with its outgoing voters', () => {
    const plain = { epoch: 0, voters: [{ id: 'a', publicKey: new Uint8Array(0) }], learners: [] }
    expect(encodeMembership(plain)).toEqual(encodeMeta())
    expect(decodeMembership(encodeMeta())).toEqual(plain)
    expect('outgoing' in decodeMembership(encodeMeta())).toBe(false)
    expect(decodeMembership(encodeJointMeta()).outgoing?.map((m) => m.id)).toEqual(['a', 'b'])
    expect(decodeMembership(encodeMembership(joint))).toEqual(joint)
  })

  it('rejects a joint configuration without outgoing voters, duplicates among them, truncation and trailing bytes', () => {
    expect(() => decodeMembership(new Uint8Array([...encodeMeta(), 0, 0, 0, 0]))).toThrow(/without outgoing/)
    expect(() => decodeMembership(new Uint8Array([...encodeMeta(), 0, 0, 0, 2, 0, 1, 97, 0, 0, 0, 0, 0, 1, 97, 0, 0, 0, 0]))).toThrow(/twice/)
    expect(() => decodeMembership(new Uint8Array([...encodeJointMeta(), 0]))).toThrow(/trailing/)
    const bytes = encodeMembership(joint)
    for (let cut = 0; cut < bytes.length; cut++) {
      if (cut === encodeMembership({ ...joint, outgoing: undefined }).length) continue // the same configuration, not joint
      expect(() => decodeMembership(bytes.subarray(0, cut))).toThrow(InvalidMessageError)
    }
    expect(() => encodeMembership({ ...joint, outgoing: [] })).toThrow(/outgoing/)
  })
})

describe('message codec', () => {
  it('round-trips every message type', () => {
    for (const m of samples) expect(decodeMessage(encodeMessage(m), limits)).toEqual(m)
  })

  it('rejects truncation, trailing bytes, bad versions, unknown types and bad flags', () => {
    for (const m of samples) {
      const bytes = encodeMessage(m)
      for (let cut = 0; cut < bytes.length; cut++) expect(() => decodeMessage(bytes.subarray(0, cut), limits)).toThrow(InvalidMessageError)
      expect(() => decodeMessage(new Uint8Array([...bytes, 0]), limits)).toThrow(/trailing/)
      expect(() => decodeMessage(new Uint8Array([2, ...bytes.subarray(1)]), limits)).toThrow(/version/)
    }
    const unknown = encodeMessage({ type: MessageType.TimeoutNow, term: 1 })
    unknown[1] = 42
    expect(() => decodeMessage(unknown, limits)).toThrow(/unknown raft message type/)
    const vote = encodeMessage({ type: MessageType.VoteResponse, term: 1, granted: true, preVote: false })
    vote[10] = 2
    expect(() => decodeMessage(vote, limits)).toThrow(/0 or 1/)
  })

  it('rejects values past the safe integer range, out-of-order entry terms, unknown entry kinds and oversize entries', () => {
    const big = encodeMessage({ type: MessageType.TimeoutNow, term: 1 })
    big[2] = 0xff
    expect(() => decodeMessage(big, limits)).toThrow(/safe integer/)
    const append = (entries: ReturnType<typeof entry>[], term = 5) =>
      encodeMessage({ type: MessageType.Append, term, prevIndex: 0, prevTerm: 0, commit: 0, entries })
    expect(() => decodeMessage(append([entry(1, 3), entry(2, 2)]), limits)).toThrow(/out of order/)
    expect(() => decodeMessage(append([entry(1, 6)]), limits)).toThrow(/out of order/)
    expect(() => decodeMessage(append([entry(1, 3, [9])]), limits)).toThrow(/kind/)
    expect(() => decodeMessage(append([entry(1, 3, [1, 0])]), limits)).toThrow(/no-op/)
    expect(() => decodeMessage(append([entry(1, 3, [2, 1, 2])]), limits)).toThrow(InvalidMessageError)
    expect(() => decodeMessage(append([entry(1, 3, new Array(2000).fill(0))]), limits)).toThrow(/over 1024/)
  })

  it('rejects empty proposal batches, unknown reject reasons and forwarded entries shorter than their tag', () => {
    const propose = encodeMessage({ type: MessageType.Propose, term: 1, nonce: 1, firstCounter: 1, commands: [new Uint8Array(1)] })
    const empty = propose.slice(0, propose.byteLength - 5) // drop the one command...
    new DataView(empty.buffer).setUint32(empty.byteLength - 4, 0) // ...and say zero
    expect(() => decodeMessage(empty, limits)).toThrow(/propose count 0/)
    const reject = encodeMessage({ type: MessageType.ProposeReject, term: 1, nonce: 1, firstCounter: 1, count: 1, reason: 0, leader: '' })
    reject[reject.byteLength - 3] = 7
    expect(() => decodeMessage(reject, limits)).toThrow(/reason 7/)
    const append = (data: Uint8Array) =>
      encodeMessage({ type: MessageType.Append, term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 2, data }] })
    expect(() => decodeMessage(append(new Uint8Array([3, 0, 0, 0])), limits)).toThrow(/shorter than its tag/)
    expect(decodeMessage(append(forwardedEntryData(5, 6, new Uint8Array([9]))), limits).type).toBe(MessageType.Append)
  })

  it('never throws anything but InvalidMessageError on random bytes', () => {
    const random = seededRandom(42)
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random.next() * 60)
      const bytes = new Uint8Array(length).map(() => Math.floor(random.next() * 256))
      if (length > 1 && random.next() < 0.7) {
        bytes[0] = 1
        bytes[1] = 1 + Math.floor(random.next() * 14)
      }
      try {
        decodeMessage(bytes, limits)
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidMessageError)
      }
    }
  })

  it('a node drops malformed messages without changing its state', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const follower = c.node(['a', 'b', 'c'].find((id) => id !== leader)!)
    const before = follower.status
    for (const garbage of [new Uint8Array(0), new Uint8Array([1]), new Uint8Array([1, 99, 0, 0, 0, 0, 0, 0, 0, 9]), new Uint8Array(100).fill(255)]) {
      expect(() => follower.raft.receive(leader, garbage)).toThrow(InvalidMessageError)
    }
    expect(follower.status).toEqual(before)
  })
})
