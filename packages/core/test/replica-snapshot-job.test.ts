// The Replica takes a state machine's snapshot in slices (ADR 0025): one step per timer input, with
// commits applied between steps; the protocol gets the snapshot of the state at `beginSnapshot`'s
// index, or `undefined` when the job is abandoned.
import { describe, expect, it } from 'vitest'
import {
  CONTRACT_VERSION,
  type ClientRef,
  membershipOf,
  type ProtocolContext,
  type ProtocolFactory,
  type ProtocolNode,
  Replica,
  type SnapshotJob,
  type SnapshotSink,
  utf8,
} from '../src/index.js'
import { flush, ListStateMachine, ManualClock, RecordingTransport, SlowStorage } from './fakes.js'

/** A list state machine whose snapshot takes one step per item (frozen at begin: items are only appended). */
class SlicedList extends ListStateMachine {
  failAt: number | undefined
  aborted = 0
  beginSnapshot(): SnapshotJob {
    const frozen = this.items.length
    const parts: string[] = []
    let done = false
    return {
      step: () => {
        if (done) return undefined
        if (parts.length === this.failAt) throw new Error('step failed')
        if (parts.length < frozen) {
          parts.push(this.items[parts.length]!)
          return undefined
        }
        done = true
        return new TextEncoder().encode(JSON.stringify(parts))
      },
      abort: () => {
        done = true
        this.aborted++
      },
    }
  }
}

/** With `into`, writes the first half of its bytes into it and returns the rest (ADR 0027: the Replica writes that). */
class HalfStreamedList extends SlicedList {
  override beginSnapshot(options?: { readonly into?: SnapshotSink }): SnapshotJob {
    const job = super.beginSnapshot()
    const into = options?.into
    return {
      step: () => {
        const out = job.step()
        if (out === undefined || into === undefined) return out
        const half = out.byteLength >> 1
        into.write(out.subarray(0, half))
        return out.subarray(half)
      },
      abort: () => job.abort(),
    }
  }
}

/** Restores one item per step into a side list, swapped in at the last step; `poison` makes a step throw. */
class SlicedRestoreList extends SlicedList {
  restoreSteps = 0
  beginRestore(data: Uint8Array) {
    const items = JSON.parse(new TextDecoder().decode(data)) as string[]
    const building: string[] = []
    return {
      step: () => {
        this.restoreSteps++
        if (building.length < items.length) {
          if (items[building.length] === 'poison') throw new Error('corrupt snapshot')
          building.push(items[building.length]!)
          return false
        }
        this.items = building
        return true
      },
      abort: () => {},
    }
  }
}

/** Commits each proposal at once; `snap()` asks for a snapshot in slices and records what it gets. */
class Node implements ProtocolNode {
  index = 0
  taken: Array<{ index: number; data: string } | undefined> = []
  constructor(readonly ctx: ProtocolContext) {}
  start() {}
  receive() {}
  propose(command: Uint8Array, client: ClientRef) {
    this.ctx.commit({ index: ++this.index, command, client })
  }
  snap(into?: SnapshotSink) {
    this.ctx.beginSnapshot!(
      (taken) => this.taken.push(taken === undefined ? undefined : { index: taken.index, data: new TextDecoder().decode(taken.data) }),
      into === undefined ? undefined : { into },
    )
  }
  install(items: string[], index: number, inSlices = false) {
    this.index = index
    this.ctx.installSnapshot({ index, term: 1, data: utf8(JSON.stringify(items)), meta: new Uint8Array(0) }, { inSlices })
  }
  reads: Array<Promise<unknown>> = []
  status() {
    return { id: 'n1', role: 'leader', term: 1, leader: 'n1', commitIndex: this.index, lastIndex: this.index, membership: this.ctx.membership }
  }
  stop() {}
}

async function setup(machine = new SlicedList()) {
  let node: Node | undefined
  const factory: ProtocolFactory = {
    contract: CONTRACT_VERSION,
    name: 'sliced',
    faultModel: 'crash',
    maxFaulty: () => 0,
    create: (ctx) => (node = new Node(ctx)),
  }
  const clock = new ManualClock()
  const storage = new SlowStorage()
  const errors: unknown[] = []
  const replica = new Replica({
    factory,
    self: 'n1',
    membership: membershipOf(['n1']),
    transport: new RecordingTransport('n1'),
    storage,
    clock,
    random: { next: () => 0 },
    stateMachine: machine,
    onError: (e) => errors.push(e),
  })
  await replica.start()
  await flush()
  /** One timer round: fire due timers, let the Replica run the batch. */
  const tick = async () => {
    clock.advance(0)
    await flush()
  }
  return { replica, node: node!, machine, tick, errors, clock }
}

describe('Replica: a snapshot in slices (ADR 0025)', () => {
  it('steps once per timer input, commits go on between steps, and the snapshot is of the state at its index', async () => {
    const { replica, node, tick } = await setup()
    for (const c of ['a', 'b', 'c']) void replica.propose(utf8(c)).catch(() => undefined)
    await flush()
    node.snap()
    for (const c of ['d', 'e']) void replica.propose(utf8(c)).catch(() => undefined)
    await flush()
    for (let i = 0; i < 3; i++) await tick()
    expect(node.taken).toEqual([]) // three items: three steps, the fourth returns the snapshot
    void replica.propose(utf8('f')).catch(() => undefined)
    await tick()
    expect(node.taken).toEqual([{ index: 3, data: '["a","b","c"]' }])
    const counters = replica.status().counters
    expect(counters['snapshots.steps']).toBe(4)
    expect(counters['snapshots.taken']).toBe(1)
    expect(replica.status().appliedIndex).toBe(6)
  })

  it('a state machine without beginSnapshot: the one-shot snapshot, inside the call', async () => {
    const { replica, node } = await setup(new ListStateMachine() as SlicedList)
    void replica.propose(utf8('a')).catch(() => undefined)
    await flush()
    node.snap()
    expect(node.taken).toEqual([{ index: 1, data: '["a"]' }])
  })

  it('with `into` every byte goes into the sink, in order, whoever writes it; taken.data is empty', async () => {
    for (const machine of [new HalfStreamedList(), new SlicedList(), new ListStateMachine() as SlicedList]) {
      const { replica, node, tick } = await setup(machine)
      for (const c of ['a', 'b', 'c']) void replica.propose(utf8(c)).catch(() => undefined)
      await flush()
      const written: string[] = []
      node.snap({ write: (chunk) => void written.push(new TextDecoder().decode(chunk)) })
      for (let i = 0; i < 4; i++) await tick()
      expect(node.taken).toEqual([{ index: 3, data: '' }])
      expect(written.join('')).toBe('["a","b","c"]')
      // A job that streams half of it wrote that half itself; the Replica wrote the rest after it.
      expect(written).toHaveLength(machine instanceof HalfStreamedList ? 2 : 1)
    }
  })

  it('an installed snapshot abandons the job (onTaken(undefined)); so does a second begin', async () => {
    const { replica, node, machine, tick } = await setup()
    for (const c of ['a', 'b']) void replica.propose(utf8(c)).catch(() => undefined)
    await flush()
    node.snap()
    await tick()
    node.snap() // abandons the first
    expect(node.taken).toEqual([undefined])
    node.install(['x', 'y', 'z'], 10)
    expect(node.taken).toEqual([undefined, undefined])
    expect(machine.aborted).toBe(2)
    for (let i = 0; i < 5; i++) await tick()
    expect(node.taken).toHaveLength(2) // no late answer
    expect(replica.status().counters['snapshots.abandoned']).toBe(2)
  })

  it('a step that throws abandons the job and reports the error; a stopped replica calls nothing back', async () => {
    const machine = new SlicedList()
    machine.failAt = 1
    const { replica, node, tick, errors } = await setup(machine)
    for (const c of ['a', 'b']) void replica.propose(utf8(c)).catch(() => undefined)
    await flush()
    node.snap()
    for (let i = 0; i < 3; i++) await tick()
    expect(node.taken).toEqual([undefined])
    expect(errors).toHaveLength(1)
    machine.failAt = undefined
    node.snap()
    replica.halt()
    for (let i = 0; i < 3; i++) await tick()
    expect(node.taken).toEqual([undefined])
    expect(machine.aborted).toBe(2)
  })
})

describe('Replica: a received snapshot restored in slices (ADR 0025)', () => {
  it('holds commits, reads and a snapshot until the state is restored, then runs them in order on it', { timeout: 10_000 }, async () => {
    const machine = new SlicedRestoreList()
    const { replica, node, tick } = await setup(machine)
    void replica.propose(utf8('old')).catch(() => undefined)
    await flush()
    node.install(['x', 'y', 'z'], 10, true)
    expect(machine.items).toEqual(['old']) // not yet
    // Commits after the snapshot arrive while it is being restored: held, not applied to the old state.
    const answers = [replica.propose(utf8('p')), replica.propose(utf8('q'))]
    await flush()
    expect(machine.items).toEqual(['old'])
    node.snap() // the snapshot asked for after p and q: of x, y, z, p, q
    const third = replica.propose(utf8('r'))
    await flush()
    for (let i = 0; i < 3; i++) await tick()
    expect(machine.items).toEqual(['old'])
    await tick() // the fourth step swaps the state in and releases what was held
    expect(machine.items).toEqual(['x', 'y', 'z', 'p', 'q', 'r'])
    expect((await Promise.all([...answers, third])).map((a) => a.index)).toEqual([11, 12, 13])
    for (let i = 0; i < 10; i++) await tick()
    expect(node.taken).toEqual([{ index: 12, data: '["x","y","z","p","q"]' }])
    expect(replica.status().counters['snapshots.restoreSteps']).toBe(4)
  })

  it('without inSlices (or beginRestore) the restore is one call, as before', async () => {
    const machine = new SlicedRestoreList()
    const { node } = await setup(machine)
    node.install(['x'], 5)
    expect(machine.items).toEqual(['x'])
    expect(machine.restoreSteps).toBe(0)
  })

  it('a one-shot snapshot asked for meanwhile finishes the restore first', async () => {
    const machine = new SlicedRestoreList()
    const { replica, node } = await setup(machine)
    node.install(['x', 'y'], 5, true)
    void replica.propose(utf8('p')).catch(() => undefined)
    await flush()
    expect(node.ctx.takeSnapshot()).toEqual({ index: 6, data: utf8('["x","y","p"]') })
  })

  it('a step that fails fails the replica (the store holds a snapshot the state machine cannot load)', async () => {
    const machine = new SlicedRestoreList()
    const { replica, node, tick, errors } = await setup(machine)
    node.install(['x', 'poison'], 5, true)
    for (let i = 0; i < 3; i++) await tick()
    expect(replica.running).toBe(false)
    expect(errors.some((e) => (e as Error).message === 'corrupt snapshot')).toBe(true)
    await expect(replica.propose(utf8('p'))).rejects.toThrow(/failed/)
  })
})
