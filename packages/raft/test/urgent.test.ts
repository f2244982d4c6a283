import { describe, expect, it } from 'vitest'
import { encodeMessage, isUrgentMessage, MessageType, ProposeRejectReason, raft, type RaftMessage } from '../src/index.js'

// Which messages the runtime sends and handles ahead of client traffic (core's ProtocolFactory.isUrgent).
describe('urgent (liveness) messages', () => {
  const entry = { index: 1, term: 1, data: new Uint8Array(100) }
  const urgent: RaftMessage[] = [
    { type: MessageType.Vote, term: 2, lastIndex: 1, lastTerm: 1, preVote: true, transfer: false },
    { type: MessageType.VoteResponse, term: 2, granted: true, preVote: false },
    { type: MessageType.Heartbeat, term: 2, commit: 1, context: 3 },
    { type: MessageType.HeartbeatResponse, term: 2, context: 3 },
    { type: MessageType.AppendResponse, term: 2, reject: false, index: 5, hintIndex: 0, hintTerm: 0 },
    { type: MessageType.SnapshotResponse, term: 2, index: 5, nextOffset: 0 },
    { type: MessageType.TimeoutNow, term: 2 },
    { type: MessageType.ProposeReject, term: 2, nonce: 7, firstCounter: 1, count: 1, reason: ProposeRejectReason.NotLeader, leader: 'n1' },
  ]
  const bulk: RaftMessage[] = [
    { type: MessageType.Append, term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: [entry] },
    { type: MessageType.Append, term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
    { type: MessageType.Snapshot, term: 2, index: 5, snapshotTerm: 1, totalBytes: 3, offset: 0, checksum: 0, meta: new Uint8Array(1), chunk: new Uint8Array(3) },
    { type: MessageType.Propose, term: 2, nonce: 7, firstCounter: 1, commands: [new Uint8Array(10)] },
  ]

  it('marks votes, heartbeats and every answer urgent, and AppendEntries, snapshots and forwarded proposals not', () => {
    for (const m of urgent) expect(isUrgentMessage(encodeMessage(m)), String(m.type)).toBe(true)
    for (const m of bulk) expect(isUrgentMessage(encodeMessage(m)), String(m.type)).toBe(false)
    expect(raft.isUrgent).toBe(isUrgentMessage)
  })

  it('never throws on garbage and calls it not urgent', () => {
    expect(isUrgentMessage(new Uint8Array(0))).toBe(false)
    expect(isUrgentMessage(new Uint8Array([1]))).toBe(false)
    expect(isUrgentMessage(new Uint8Array([99, MessageType.Heartbeat]))).toBe(false) // another wire version
    expect(isUrgentMessage(new Uint8Array([1, 200]))).toBe(false)
  })
})
