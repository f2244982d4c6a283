import { describe, expect, it } from 'vitest'
import {
  ConfigError,
  CONTRACT_VERSION,
  membership,
  type MembershipChange,
  UnsupportedError,
  type ClientRef,
  InvalidMessageError,
  membershipOf,
  NotLeaderError,
  OverloadedError,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  Replica,
  StoppedError,
  TimeoutError,
  utf8,
} from '../src/index.js'
import { flush, ListStateMachine, ManualClock, RecordingTransport, SlowStorage } from './fakes.js'

interface ToyOptions {
  readonly leader: boolean
  readonly withRead: boolean
  readonly withReconfigure: boolean
}

/**
 * A toy protocol: the leader appends each proposal to its log, tells its peer
 * and commits at once. Enough to observe the Replica's ordering guarantees.
 */
function toyFactory(hooks: { nodes: ToyNode[] } = { nodes: [] }, urgentPrefix?: string): ProtocolFactory<ToyOptions> {
  return {
    ...(urgentPrefix === undefined ? {} : { isUrgent: (m: Uint8Array) => new TextDecoder().decode(m).startsWith(urgentPrefix) }),
    contract: CONTRACT_VERSION,
    name: 'toy',
    faultModel: 'crash',
    maxFaulty: (n) => Math.floor((n - 1) / 2),
    create(ctx, options) {
      const node = new ToyNode(ctx, {
        leader: options?.leader ?? true,
        withRead: options?.withRead ?? false,
        withReconfigure: options?.withReconfigure ?? false,
      })
      hooks.nodes.push(node)
      return node
    },
  }
}

class ToyNode implements ProtocolNode {
  received: string[] = []
  /** Messages and proposals in the order the protocol saw them. */
  order: string[] = []
  timerFired = 0
  read?: (request: Uint8Array, client: ClientRef) => void
  reconfigure?: (change: MembershipChange, client: ClientRef) => void
  transferLeadership?: (target: string | undefined, client: ClientRef) => void
  constructor(
    readonly ctx: ProtocolContext,
    readonly options: ToyOptions,
  ) {
    if (options.withRead) this.read = (_request, client) => this.ctx.serveRead(client)
    if (options.withReconfigure)
      this.reconfigure = (change, client) => {
        if (!this.options.leader) throw new NotLeaderError('n2')
        if (change.type !== 'add-voter') throw new ConfigError('toy only adds voters', 'type')
        const index = this.ctx.storage.lastIndex() + 1
        this.ctx.storage.append([{ index, term: 1, data: new Uint8Array(0) }])
        const next = membership([...this.ctx.membership.voters, change.member], [], 1)
        this.ctx.observe({ type: 'membership', membership: next, index })
        this.ctx.respond(client, { index, result: new Uint8Array(0) })
      }
  }
  start() {}
  receive(from: string, message: Uint8Array) {
    const text = new TextDecoder().decode(message)
    if (text === 'garbage') throw new InvalidMessageError('not a toy message')
    if (text === 'bug') throw new Error('protocol bug')
    this.received.push(`${from}:${text}`)
    this.order.push(text)
    this.ctx.storage.setHardState('last', message)
  }
  propose(command: Uint8Array, client: ClientRef) {
    if (!this.options.leader) throw new NotLeaderError('n2')
    this.order.push(`propose:${new TextDecoder().decode(command)}`)
    if (new TextDecoder().decode(command) === 'ignore') return // never answered: the client times out
    const index = this.ctx.storage.lastIndex() + 1
    this.ctx.storage.append([{ index, term: 1, data: command }])
    this.ctx.send('n2', command)
    this.ctx.commit({ index, command, client })
  }
  status() {
    return {
      id: this.ctx.self,
      role: this.options.leader ? 'leader' : 'follower',
      term: 1,
      leader: 'n1',
      commitIndex: this.ctx.storage.lastIndex(),
      lastIndex: this.ctx.storage.lastIndex(),
      membership: this.ctx.membership,
    }
  }
  stop() {}
}

function setup(
  options: Partial<ToyOptions> = {},
  replicaOptions: { maxQueuedInputs?: number; requestTimeoutMs?: number; maxPendingRequests?: number; maxBatchInputs?: number } = {},
  urgentPrefix?: string,
) {
  const storage = new SlowStorage()
  const transport = new RecordingTransport('n1', storage)
  const clock = new ManualClock()
  const stateMachine = new ListStateMachine()
  const hooks = { nodes: [] as ToyNode[] }
  const errors: unknown[] = []
  const replica = new Replica<ToyOptions>({
    factory: toyFactory(hooks, urgentPrefix),
    protocolOptions: options,
    self: 'n1',
    membership: membershipOf(['n1', 'n2', 'n3']),
    transport,
    storage,
    clock,
    random: { next: () => 0.5 },
    stateMachine,
    onError: (e) => errors.push(e),
    ...replicaOptions,
  })
  return { replica, storage, transport, clock, stateMachine, hooks, errors }
}

describe('Replica: persist, then send, then answer', () => {
  it('sends nothing of a batch before its storage writes are synced', async () => {
    const { replica, storage, transport } = setup()
    await replica.start()
    const answer = replica.propose(utf8('a'))
    await flush()
    expect(storage.syncsInFlight).toBe(1)
    expect(transport.sent).toHaveLength(0) // the write is not durable yet
    storage.release()
    await answer
    expect(transport.sent).toHaveLength(1)
    expect(transport.sent[0]!.syncedAtSend).toBe(storage.writes)
  })

  it('answers the client only after the sync, with the state machine result', async () => {
    const { replica, storage } = setup()
    await replica.start()
    let answered = false
    const answer = replica.propose(utf8('a')).then((r) => {
      answered = true
      return r
    })
    await flush()
    expect(answered).toBe(false)
    storage.release()
    const result = await answer
    expect(result.index).toBe(1)
    expect([...result.result]).toEqual([1])
  })

  it('group-commits: proposals queued together share one sync', async () => {
    const { replica, storage, transport } = setup()
    await replica.start()
    const answers = Array.from({ length: 50 }, (_, i) => replica.propose(utf8(`c${i}`)))
    await flush()
    expect(storage.syncCalls).toBe(1)
    storage.release()
    const results = await Promise.all(answers)
    expect(results.map((r) => r.index)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
    expect(transport.sent).toHaveLength(50)
    expect(storage.syncCalls).toBe(1)
  })

  it('keeps inputs that arrive during a sync for the next batch, each batch synced before its sends', async () => {
    const { replica, storage, transport } = setup()
    await replica.start()
    const first = replica.propose(utf8('a'))
    await flush()
    const second = replica.propose(utf8('b'))
    await flush()
    expect(storage.syncsInFlight).toBe(1)
    storage.release()
    await first
    await flush()
    expect(transport.sent).toHaveLength(1)
    expect(storage.syncsInFlight).toBe(1) // second batch waits on its own sync
    storage.release()
    await second
    expect(transport.sent.map((s) => s.syncedAtSend)).toEqual([1, 2])
  })
})

describe('Replica: bad input never reaches the event loop', () => {
  it('drops and counts malformed messages, non-members and oversized messages', async () => {
    const { replica, storage, transport, hooks } = setup()
    storage.autoSync = true
    await replica.start()
    transport.deliver('n2', utf8('garbage'))
    transport.deliver('intruder', utf8('hello'))
    transport.deliver('n2', new Uint8Array(17 * 1024 * 1024))
    transport.deliver('n3', utf8('fine'))
    await replica.settled()
    expect(hooks.nodes[0]!.received).toEqual(['n3:fine'])
    const counters = replica.status().counters
    expect(counters['dropped.invalid']).toBe(1)
    expect(counters['dropped.non-member']).toBe(1)
    expect(counters['dropped.oversized']).toBe(1)
  })

  it('counts a protocol exception and keeps serving', async () => {
    const { replica, storage, transport, errors } = setup()
    storage.autoSync = true
    await replica.start()
    transport.deliver('n2', utf8('bug'))
    await replica.settled()
    expect(errors).toHaveLength(1)
    expect(replica.status().counters['protocol.errors']).toBe(1)
    await expect(replica.propose(utf8('after'))).resolves.toMatchObject({ index: 1 })
  })

  it('rejects with the typed error a protocol throws (NotLeaderError carries the hint)', async () => {
    const { replica } = setup({ leader: false })
    await replica.start()
    const error = await replica.propose(utf8('x')).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NotLeaderError)
    expect((error as NotLeaderError).leaderHint).toBe('n2')
  })

  it('rejects a failing state machine apply for that client only', async () => {
    const { replica, storage } = setup()
    storage.autoSync = true
    await replica.start()
    await expect(replica.propose(utf8('boom'))).rejects.toThrow('apply failed')
    await expect(replica.propose(utf8('ok'))).resolves.toMatchObject({ index: 2 })
  })
})

describe('Replica: limits, timeouts and stopping', () => {
  it('times out a request nobody answers, with an unknown outcome', async () => {
    const { replica, storage, clock } = setup({}, { requestTimeoutMs: 100 })
    storage.autoSync = true
    await replica.start()
    const answer = replica.propose(utf8('ignore'))
    await replica.settled()
    clock.advance(100)
    await expect(answer).rejects.toBeInstanceOf(TimeoutError)
    expect(replica.status().counters['requests.timeout']).toBe(1)
  })

  it('refuses proposals when the input queue is full', async () => {
    const { replica } = setup({}, { maxQueuedInputs: 3 })
    await replica.start()
    const accepted = [replica.propose(utf8('a')), replica.propose(utf8('b')), replica.propose(utf8('c'))]
    await expect(replica.propose(utf8('d'))).rejects.toBeInstanceOf(OverloadedError)
    replica.halt()
    const outcomes = await Promise.allSettled(accepted)
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof StoppedError)).toBe(true)
  })

  it('fails waiting clients with StoppedError on halt and refuses new work', async () => {
    const { replica, clock } = setup()
    await replica.start()
    const answer = replica.propose(utf8('a'))
    await flush()
    replica.halt()
    await expect(answer).rejects.toBeInstanceOf(StoppedError)
    await expect(replica.propose(utf8('b'))).rejects.toBeInstanceOf(StoppedError)
    expect(clock.pending).toBe(0)
  })

  it('stops taking part when storage cannot sync', async () => {
    const { replica, storage, transport, errors } = setup()
    storage.failNextSync = true
    await replica.start()
    const answer = replica.propose(utf8('a'))
    await expect(answer).rejects.toBeInstanceOf(StoppedError)
    expect(transport.sent).toHaveLength(0) // nothing unsynced ever left
    expect(errors.some((e) => String(e).includes('disk on fire'))).toBe(true)
    expect(replica.running).toBe(false)
    await expect(replica.propose(utf8('b'))).rejects.toThrow(/failed/)
  })

  it('refuses a protocol built for another contract version', () => {
    const factory = { ...toyFactory(), contract: 'synod-protocol/v0' } as unknown as ProtocolFactory<ToyOptions>
    expect(
      () =>
        new Replica({
          factory,
          self: 'n1',
          membership: membershipOf(['n1']),
          transport: new RecordingTransport('n1'),
          storage: new SlowStorage(),
          clock: new ManualClock(),
          random: { next: () => 0 },
          stateMachine: new ListStateMachine(),
        }),
    ).toThrow(/synod-protocol\/v1/)
  })

  it('a graceful stop syncs storage and stops the transport', async () => {
    const { replica, storage, transport } = setup()
    storage.autoSync = true
    await replica.start()
    await replica.propose(utf8('a'))
    storage.autoSync = false
    storage.setHardState('x', utf8('y')) // a write outside any batch
    const stopping = replica.stop()
    await flush()
    storage.release()
    await stopping
    expect(storage.hasPendingWrites()).toBe(false)
    expect(transport.started).toBe(false)
  })
})

describe('Replica: timers, reads and snapshots', () => {
  it('does not run a timer callback that was cleared after it fired but before it ran', async () => {
    const { replica, storage, clock, hooks } = setup()
    storage.autoSync = true
    await replica.start()
    const ctx = hooks.nodes[0]!.ctx
    let fired = 0
    const id = ctx.setTimer(10, () => fired++)
    clock.advance(10) // queued as an input
    ctx.clearTimer(id)
    await replica.settled()
    expect(fired).toBe(0)
    ctx.setTimer(10, () => fired++)
    clock.advance(10)
    await replica.settled()
    expect(fired).toBe(1)
  })

  it('orders reads as commands when the protocol has no read path', async () => {
    const { replica, storage, stateMachine } = setup()
    storage.autoSync = true
    await replica.start()
    await replica.read(utf8('r'))
    expect(stateMachine.items).toEqual(['r'])
  })

  it('serves reads from the state machine when the protocol says so', async () => {
    const { replica, storage } = setup({ withRead: true })
    storage.autoSync = true
    await replica.start()
    await replica.propose(utf8('a'))
    await replica.propose(utf8('b'))
    const read = await replica.read(utf8('q'))
    expect(new TextDecoder().decode(read.result)).toBe('a,b')
    expect(read.index).toBe(2)
    expect(new TextDecoder().decode(replica.readLocal(utf8('q')).result)).toBe('a,b')
  })

  it('restores the state machine from the stored snapshot and skips re-commits it covers', async () => {
    const storage = new SlowStorage()
    storage.autoSync = true
    storage.saveSnapshot({ index: 5, term: 1, data: utf8('["x","y"]'), meta: new Uint8Array(0) })
    const stateMachine = new ListStateMachine()
    const hooks = { nodes: [] as ToyNode[] }
    const replica = new Replica<ToyOptions>({
      factory: toyFactory(hooks),
      self: 'n1',
      membership: membershipOf(['n1', 'n2']),
      transport: new RecordingTransport('n1'),
      storage,
      clock: new ManualClock(),
      random: { next: () => 0 },
      stateMachine,
    })
    await replica.start()
    expect(stateMachine.items).toEqual(['x', 'y'])
    hooks.nodes[0]!.ctx.commit({ index: 4, command: utf8('old') })
    hooks.nodes[0]!.ctx.commit({ index: 6, command: utf8('new') })
    expect(stateMachine.items).toEqual(['x', 'y', 'new'])
    expect(replica.status().counters['commits.skipped']).toBe(1)
  })
})

describe('Replica: membership changes', () => {
  it('answers UnsupportedError when the protocol cannot change its membership', async () => {
    const { replica, storage } = setup()
    storage.autoSync = true
    await replica.start()
    await expect(replica.reconfigure({ type: 'remove', id: 'n3' })).rejects.toBeInstanceOf(UnsupportedError)
  })

  it('hands the change to the protocol, answers after the sync and admits the new member', async () => {
    const { replica, storage, transport, hooks } = setup({ withReconfigure: true })
    await replica.start()
    transport.deliver('n4', utf8('hello'))
    await flush()
    expect(replica.counters.get('dropped.non-member')).toBe(1)
    let done = false
    const answer = replica.reconfigure({ type: 'add-voter', member: { id: 'n4', publicKey: new Uint8Array(0), meta: utf8('addr') } })
    void answer.then(() => (done = true))
    await flush()
    expect(done).toBe(false) // the change is not answered before its storage write is synced
    storage.release()
    expect((await answer).index).toBe(1)
    expect(replica.membership().voters.map((m) => m.id)).toEqual(['n1', 'n2', 'n3', 'n4'])
    storage.autoSync = true
    transport.deliver('n4', utf8('hello'))
    await replica.settled()
    expect(hooks.nodes[0]!.received).toEqual(['n4:hello'])
    expect(replica.counters.get('dropped.non-member')).toBe(1)
    expect(replica.counters.get('reconfigurations')).toBe(1)
  })

  it('rejects with the protocol error (leader hint, bad change) and refuses oversized member meta', async () => {
    const { replica, storage } = setup({ withReconfigure: true, leader: false })
    storage.autoSync = true
    await replica.start()
    const member = { id: 'n4', publicKey: new Uint8Array(0) }
    await expect(replica.reconfigure({ type: 'add-voter', member })).rejects.toMatchObject({ leaderHint: 'n2' })
    await expect(replica.reconfigure({ type: 'add-voter', member: { ...member, meta: new Uint8Array(4097) } })).rejects.toBeInstanceOf(ConfigError)
  })
})

describe('Replica: leadership transfer', () => {
  it('answers UnsupportedError when the protocol has no leader transfer', async () => {
    const { replica, storage } = setup()
    storage.autoSync = true
    await replica.start()
    await expect(replica.transferLeadership('n2')).rejects.toBeInstanceOf(UnsupportedError)
  })

  it('hands the target to the protocol and resolves when it answers; protocol errors reject', async () => {
    const { replica, storage, hooks } = setup({ withReconfigure: true })
    storage.autoSync = true
    await replica.start()
    const node = hooks.nodes[0]!
    const seen: Array<string | undefined> = []
    node.transferLeadership = (target, client) => {
      if (target === 'nobody') throw new ConfigError('not a voter', 'target')
      seen.push(target)
      node.ctx.respond(client, { index: 0, result: new Uint8Array(0) })
    }
    await replica.transferLeadership('n2')
    await replica.transferLeadership()
    expect(seen).toEqual(['n2', undefined])
    await expect(replica.transferLeadership('nobody')).rejects.toBeInstanceOf(ConfigError)
    expect(replica.counters.get('transfers')).toBe(3)
  })
})

describe('Replica: liveness messages ahead of client work (overload)', () => {
  it('hands a batch urgent messages first, then other protocol inputs, then client requests', async () => {
    const { replica, storage, transport, hooks } = setup({}, {}, 'hb')
    await replica.start()
    const first = replica.propose(utf8('a')) // its batch now waits for the sync
    await flush()
    expect(storage.syncsInFlight).toBe(1)
    const second = replica.propose(utf8('b'))
    transport.deliver('n2', utf8('append-1'))
    transport.deliver('n2', utf8('hb-1'))
    transport.deliver('n3', utf8('append-2'))
    transport.deliver('n3', utf8('hb-2'))
    storage.autoSync = true
    storage.release()
    await Promise.all([first, second])
    expect(hooks.nodes[0]!.order).toEqual(['propose:a', 'hb-1', 'hb-2', 'append-1', 'append-2', 'propose:b'])
  })

  it('keeps FIFO order within the protocol lane when the factory marks nothing urgent', async () => {
    const { replica, storage, transport, hooks } = setup()
    await replica.start()
    const first = replica.propose(utf8('a'))
    await flush()
    const second = replica.propose(utf8('b'))
    transport.deliver('n2', utf8('append-1'))
    transport.deliver('n2', utf8('hb-1'))
    storage.autoSync = true
    storage.release()
    await Promise.all([first, second])
    expect(hooks.nodes[0]!.order).toEqual(['propose:a', 'append-1', 'hb-1', 'propose:b'])
  })

  it('splits an oversized backlog so that urgent messages still go first', async () => {
    const { replica, storage, transport, hooks } = setup({}, { maxBatchInputs: 2 }, 'hb')
    await replica.start()
    const first = replica.propose(utf8('a'))
    await flush()
    const later = [replica.propose(utf8('b')), replica.propose(utf8('c')), replica.propose(utf8('d'))]
    transport.deliver('n2', utf8('hb-1'))
    storage.autoSync = true
    storage.release()
    await Promise.all([first, ...later])
    expect(hooks.nodes[0]!.order).toEqual(['propose:a', 'hb-1', 'propose:b', 'propose:c', 'propose:d'])
    expect(replica.status().counters.batches).toBe(4) // [a], [hb-1, b], [c, d]... and the start batch
  })

  it('never drops a protocol message because client requests filled the queue', async () => {
    const { replica, storage, transport, hooks } = setup({}, { maxQueuedInputs: 3 })
    await replica.start()
    const first = replica.propose(utf8('a'))
    await flush()
    const queued = [replica.propose(utf8('b')), replica.propose(utf8('c')), replica.propose(utf8('d'))]
    await expect(replica.propose(utf8('e'))).rejects.toBeInstanceOf(OverloadedError) // the client lane is full
    transport.deliver('n2', utf8('heartbeat'))
    expect(replica.status().counters['dropped.queue-full']).toBeUndefined()
    storage.autoSync = true
    storage.release()
    await Promise.all([first, ...queued])
    expect(hooks.nodes[0]!.received).toContain('n2:heartbeat')
  })

  it('tells the transport which outgoing messages are urgent', async () => {
    const factory: ProtocolFactory = {
      ...toyFactory({ nodes: [] }, 'hb'),
      create: (ctx) => ({
        start: () => {
          ctx.send('n2', utf8('hb-out'))
          ctx.send('n2', utf8('append-out'))
        },
        receive: () => undefined,
        propose: () => undefined,
        status: () => ({ id: 'n1', role: 'leader', term: 1, leader: 'n1', commitIndex: 0, lastIndex: 0, membership: ctx.membership }),
        stop: () => undefined,
      }),
    }
    const storage = new SlowStorage()
    storage.autoSync = true
    const transport = new RecordingTransport('n1', storage)
    const replica = new Replica({
      factory,
      self: 'n1',
      membership: membershipOf(['n1', 'n2']),
      transport,
      storage,
      clock: new ManualClock(),
      random: { next: () => 0.5 },
      stateMachine: new ListStateMachine(),
    })
    await replica.start()
    await replica.settled()
    expect(transport.sent.map((m) => [new TextDecoder().decode(m.message), m.urgent === true])).toEqual([
      ['hb-out', true],
      ['append-out', false],
    ])
  })
})

describe('Replica: admission control (maxPendingRequests)', () => {
  it('refuses requests beyond the bound with OverloadedError and admits again once one is answered', async () => {
    const { replica, storage, clock } = setup({}, { maxPendingRequests: 2, requestTimeoutMs: 100 })
    storage.autoSync = true
    await replica.start()
    const stuck = [replica.propose(utf8('ignore')), replica.propose(utf8('ignore'))] // never answered
    await expect(replica.propose(utf8('a'))).rejects.toBeInstanceOf(OverloadedError)
    await expect(replica.read(utf8('r'))).rejects.toBeInstanceOf(OverloadedError)
    expect(replica.status().counters['requests.overloaded']).toBe(2)
    await replica.settled()
    clock.advance(100)
    await Promise.allSettled(stuck)
    await expect(replica.propose(utf8('a'))).resolves.toMatchObject({ index: 1 }) // 'ignore' appends nothing
  })

  it('without the bound the same requests pile up until they time out', async () => {
    const { replica, storage, clock } = setup({}, { requestTimeoutMs: 100 })
    storage.autoSync = true
    await replica.start()
    const all = Array.from({ length: 50 }, () => replica.propose(utf8('ignore')))
    await replica.settled()
    clock.advance(100)
    const outcomes = await Promise.allSettled(all)
    expect(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof TimeoutError)).toBe(true)
  })
})
