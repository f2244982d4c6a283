// Follower reads: ReadIndex on a follower (dissertation §6.4, last paragraph;
// etcd's MsgReadIndex / MsgReadIndexResp). A follower that gets linearizable
// reads asks the leader for a read index, once per batch. The leader takes its
// commit index when the request arrives (after it has committed an entry of its
// term), confirms it still leads with a heartbeat round a quorum acknowledges
// (the round its own ReadIndex reads use, shared by every read of its batch),
// and answers that index. The follower serves the reads once it has applied up
// to it. Any write acknowledged before the read started was committed at an
// index the confirmed leader's commit index covers, so the read sees it.
//
// A follower fails its waiting reads with NotLeaderError (retryable, with the
// hint) when no answer comes within an election timeout, when the leader
// refuses, or when its leader, term or role changes: never a stale answer.

import { NotLeaderError, type ClientRef, type NodeId, type ProtocolContext, type TimerId } from '@synod/core'
import { MessageType, type RaftMessage, type ReadIndexResponseMessage } from './messages.js'

/**
 * Test-only switches that make follower reads naive (unsafe), so the tests can
 * show the stale reads the real path prevents. Never set outside tests; not
 * exported from the package entry.
 */
export const followerReadTesting = {
  /** The leader answers a ReadIndex request with its commit index at once, without a quorum round. */
  skipLeaderConfirmation: false,
  /** A follower serves a linearizable read at its own commit index without asking the leader. */
  serveAtOwnCommit: false,
}

/** A follower's ReadIndex request, held by the leader until its leadership is confirmed. */
export interface RemoteRead {
  readonly from: NodeId
  readonly nonce: number
  readonly counter: number
}

/** The leader's answer to a follower's ReadIndex request: the index to wait for. */
export function readIndexAnswer(term: number, read: RemoteRead, index: number): RaftMessage {
  return { type: MessageType.ReadIndexResponse, term, nonce: read.nonce, counter: read.counter, reject: false, index, leader: '' }
}

/** A refusal: this node does not lead (any more); `leader` is the hint, if any. */
export function readIndexRefusal(term: number, read: RemoteRead, leader: NodeId | undefined): RaftMessage {
  return { type: MessageType.ReadIndexResponse, term, nonce: read.nonce, counter: read.counter, reject: true, index: 0, leader: leader ?? '' }
}

/** The leader, term and role a follower's reads were asked under; a change fails them. */
export interface ReadView {
  readonly role: string
  readonly term: number
  readonly leader: NodeId | undefined
}

interface Request {
  readonly leader: NodeId
  readonly term: number
  readonly clients: ClientRef[]
  timer: TimerId | undefined
}

interface Waiting {
  readonly client: ClientRef
  readonly index: number
  readonly leader: NodeId
  readonly term: number
}

/** The follower side: reads buffered per batch, requests in flight, and reads waiting for their index to apply. */
export class FollowerReads {
  private buffer: ClientRef[] = []
  private readonly requests = new Map<number, Request>()
  private waiting: Waiting[] = []
  private nonce = 0
  private counter = 1
  /** Follower: requests sent, reads served / failed, answers that matched no request. As leader: requests answered / refused. */
  readonly stats = { requests: 0, served: 0, failed: 0, unmatched: 0, answered: 0, refused: 0 }

  constructor(
    private readonly ctx: ProtocolContext,
    private readonly timeoutMs: number,
    private readonly send: (to: NodeId, message: RaftMessage) => void,
  ) {}

  /** Anything buffered, in flight or waiting: flush() has work (checked first, to keep the hot path lean). */
  get busy(): boolean {
    return this.buffer.length > 0 || this.requests.size > 0 || this.waiting.length > 0
  }

  /** A read on this follower: asked for at the end of the batch (one request for all of them). */
  add(client: ClientRef): void {
    this.buffer.push(client)
  }

  /** Test switch only: serve at our own commit index, trusting nobody (the stale read the tests show). */
  serveAtOwnCommit(client: ClientRef, commit: number, view: ReadView, applied: number): void {
    this.waiting.push({ client, index: commit, leader: view.leader ?? '', term: view.term })
    this.serve(applied)
  }

  /**
   * End of a batch: fail what was asked under another leader, term or role, then send one
   * ReadIndex request for the batch's reads to the leader we follow.
   */
  flush(view: ReadView): void {
    if (this.requests.size > 0 || this.waiting.length > 0) this.failChanged(view)
    if (this.buffer.length === 0) return
    const clients = this.buffer
    this.buffer = []
    if (view.role !== 'follower' || view.leader === undefined) {
      this.fail(clients, new NotLeaderError(view.leader))
      return
    }
    // Drawn once per incarnation when first needed, so a restarted node never takes an answer to
    // a request of its previous life (asked earlier, so possibly stale) for one of its own.
    if (this.nonce === 0) this.nonce = Math.floor(this.ctx.random.next() * 2 ** 26) * 2 ** 26 + Math.floor(this.ctx.random.next() * 2 ** 26) + 1
    const counter = this.counter++
    const request: Request = { leader: view.leader, term: view.term, clients, timer: undefined }
    request.timer = this.ctx.setTimer(this.timeoutMs, () => this.expire(counter))
    this.requests.set(counter, request)
    this.stats.requests++
    this.send(view.leader, { type: MessageType.ReadIndex, term: view.term, nonce: this.nonce, counter })
  }

  /** The leader's answer (of our current term; the caller checked). */
  answered(from: NodeId, m: ReadIndexResponseMessage, applied: number): void {
    const request = m.nonce === this.nonce ? this.requests.get(m.counter) : undefined
    if (request === undefined || request.leader !== from || request.term !== m.term) {
      this.stats.unmatched++
      return
    }
    this.requests.delete(m.counter)
    if (request.timer !== undefined) this.ctx.clearTimer(request.timer)
    if (m.reject) {
      this.fail(request.clients, new NotLeaderError(m.leader === '' || m.leader === this.ctx.self ? undefined : m.leader))
      return
    }
    for (const client of request.clients) this.waiting.push({ client, index: m.index, leader: request.leader, term: request.term })
    this.serve(applied)
  }

  /** Serve every waiting read whose index is applied. */
  serve(applied: number): void {
    if (this.waiting.length === 0) return
    const still: Waiting[] = []
    for (const w of this.waiting) {
      if (w.index <= applied) {
        this.stats.served++
        this.ctx.serveRead(w.client)
      } else still.push(w)
    }
    this.waiting = still
  }

  /** Fail everything (the node stops or leads now). */
  failAll(error: NotLeaderError): void {
    for (const request of this.requests.values()) {
      if (request.timer !== undefined) this.ctx.clearTimer(request.timer)
      this.fail(request.clients, error)
    }
    this.requests.clear()
    this.fail(
      this.waiting.map((w) => w.client),
      error,
    )
    this.waiting = []
    this.fail(this.buffer, error)
    this.buffer = []
  }

  /** Timers to clear on stop (the clients are the Replica's to time out). */
  stop(): void {
    for (const request of this.requests.values()) if (request.timer !== undefined) this.ctx.clearTimer(request.timer)
    this.requests.clear()
  }

  /** No answer within the bound: the leader is slow, gone or deposed. Retry (at that leader, or elsewhere). */
  private expire(counter: number): void {
    const request = this.requests.get(counter)
    if (request === undefined) return
    this.requests.delete(counter)
    this.fail(request.clients, new NotLeaderError(request.leader, `the leader did not confirm the read index within ${this.timeoutMs} ms; retry`))
  }

  private failChanged(view: ReadView): void {
    const same = (leader: NodeId, term: number) => view.role === 'follower' && view.leader === leader && view.term === term
    // The hint is the leader we know now or else the one asked: a retry there is as good as anywhere.
    const hint = (leader: NodeId) => view.leader ?? leader
    const error = (leader: NodeId) => new NotLeaderError(hint(leader), 'the leader or term changed while the read waited; retry')
    for (const [counter, request] of this.requests) {
      if (same(request.leader, request.term)) continue
      this.requests.delete(counter)
      if (request.timer !== undefined) this.ctx.clearTimer(request.timer)
      this.fail(request.clients, error(request.leader))
    }
    if (this.waiting.every((w) => same(w.leader, w.term))) return
    const still: Waiting[] = []
    for (const w of this.waiting) {
      if (same(w.leader, w.term)) still.push(w)
      else this.fail([w.client], error(w.leader))
    }
    this.waiting = still
  }

  private fail(clients: readonly ClientRef[], error: NotLeaderError): void {
    for (const client of clients) {
      this.stats.failed++
      this.ctx.reject(client, error)
    }
  }
}
