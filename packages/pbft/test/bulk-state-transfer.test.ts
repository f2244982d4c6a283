import { decodeCanonical, toHex, utf8, type NodeId, type StateMachine } from '@synod/core'
import { sha256 } from '@synod/crypto'
import { describe, expect, it } from 'vitest'
import { isResult, RegisterMachine, TestCluster } from './helpers.js'

const STATE_BYTES = Number(process.env["BIG_STATE_MB"] ?? 64) * 1024 * 1024
// No size limit here: the filter also sees messages the receiving runtime drops as oversized.
const decodeAny = (bytes: Uint8Array) => decodeCanonical(bytes, Number.MAX_SAFE_INTEGER) as { k?: unknown; i?: number }

/** A register whose snapshot carries 64 MiB of state besides the registers (each command writes into it). */
class BigStateMachine implements StateMachine {
  private readonly register = new RegisterMachine()
  private state = new Uint8Array(STATE_BYTES)

  constructor() {
    for (let i = 0; i < 4096; i++) this.state[i] = (i * 31 + 7) & 0xff
    for (let filled = 4096; filled < STATE_BYTES; filled *= 2) this.state.copyWithin(filled, 0, Math.min(filled, STATE_BYTES - filled))
  }

  apply(command: Uint8Array, index: number): Uint8Array {
    this.state.set(command, (index * 1_048_573) % (STATE_BYTES - command.byteLength))
    return this.register.apply(command, index)
  }

  query(request: Uint8Array): Uint8Array {
    return this.register.query(request)
  }

  /** The big state at `offset` (to compare replicas). */
  peek(offset: number, length: number): Uint8Array {
    return this.state.slice(offset, offset + length)
  }

  snapshot(): Uint8Array {
    const registers = this.register.snapshot()
    const out = new Uint8Array(4 + registers.byteLength + STATE_BYTES)
    new DataView(out.buffer).setUint32(0, registers.byteLength)
    out.set(registers, 4)
    out.set(this.state, 4 + registers.byteLength)
    return out
  }

  restore(snapshot: Uint8Array): void {
    const length = new DataView(snapshot.buffer, snapshot.byteOffset).getUint32(0)
    this.register.restore(snapshot.subarray(4, 4 + length))
    this.state = snapshot.slice(4 + length)
  }
}

// Issue 12 point 3 (TOCS'02 §6.2): state transfer in checked chunks, resumable across peers.
describe('pbft state transfer of a large state', () => {
  it('a lagging replica fetches a 64 MiB snapshot in 1 MiB chunks, and when its peer crashes continues from another at the next missing chunk', { timeout: 180_000 }, async () => {
    const machines = new Map<NodeId, BigStateMachine>()
    const c = new TestCluster({
      n: 4,
      options: { checkpointInterval: 4, logWindow: 8, maxInFlight: 2, stateTransferRetryMs: 300, viewChangeTimeoutMs: 1_000, requestRetransmitMs: 300 },
      requestTimeoutMs: 60_000,
      createStateMachine: (id) => {
        const machine = new BigStateMachine()
        machines.set(id, machine)
        return machine
      },
    })
    const chunks: Array<{ from: NodeId; index: number }> = []
    let largest = 0
    for (const id of ['r0', 'r1', 'r2'])
      c.sim.network.setOutboundFilter(id, (out) => {
        largest = Math.max(largest, out.message.byteLength)
        // (A whole-state message — the old single-message transfer — is not decoded: it is over any chunk's size.)
        if (out.to === 'r3' && out.message.byteLength <= 2 << 20) {
          const m = decodeAny(out.message)
          if (m.k === 'sc') chunks.push({ from: id, index: m.i! })
        }
        return [out]
      })
    await c.start()
    c.sim.network.isolate('r3')
    let wave = 0
    while ((c.status('r0').detail as { lastExecutedSeq: number }).lastExecutedSeq < 12) {
      expect(wave).toBeLessThan(30)
      // One request per wave: one sequence number each, so the cluster stops right at the checkpoint.
      expect((await c.settle([c.propose(`r${wave % 3}`, `set k${wave % 3} w${wave}`)])).every(isResult)).toBe(true)
      wave++
    }
    await c.runUntil(() => (c.status('r0').detail as { lowWatermark: number }).lowWatermark === 12, 2_000)
    expect(c.status('r0').detail?.['lastExecutedSeq']).toBe(12) // r3 is then up to date once it has the checkpoint's state
    c.sim.network.heal()
    const total = Math.ceil((STATE_BYTES + 100) / (1 << 20))
    // A quarter of the snapshot in, the peer r3 fetches from crashes.
    await c.runUntil(() => chunks.length >= total / 4, 10_000)
    expect(chunks.length, 'r3 received too few state chunks').toBeGreaterThanOrEqual(total / 4)
    const first = chunks[0]!.from
    c.node(first).crash()
    const fromFirst = new Set(chunks.map((x) => x.index))
    const alive = ['r0', 'r1', 'r2'].find((id) => id !== first)!
    await c.runUntil(() => (c.status('r3').counters['snapshots.installed'] ?? 0) >= 1, 30_000)
    expect(c.status('r3').counters['snapshots.installed']).toBeGreaterThanOrEqual(1)
    const later = chunks.filter((x) => x.from !== first)
    // Resumed, not restarted: the other peer sent only chunks the first one had not.
    expect(later.length).toBeGreaterThan(0)
    for (const x of later) expect(fromFirst.has(x.index), `chunk ${x.index} fetched twice`).toBe(false)
    expect(chunks.length).toBeLessThanOrEqual(total + 1)
    expect(largest).toBeLessThan((1 << 20) + 64 * 1024)
    // Same big state as a replica that executed everything, and it takes part again.
    expect(c.status('r3').commitIndex).toBe(c.status(alive).commitIndex)
    expect(toHex(sha256(machines.get('r3')!.peek(0, STATE_BYTES)))).toBe(toHex(sha256(machines.get(alive)!.peek(0, STATE_BYTES))))
    const [answer] = await c.settle([c.propose('r3', 'set after transfer')], 30_000)
    expect(isResult(answer!), String(answer)).toBe(true)
    expect(c.node('r3').replica!.readLocal(utf8(`k${(wave - 1) % 3}`)).result).toEqual(utf8(`w${wave - 1}`))
    c.assertAgreement()
  })
})
