// A scripted "daemon" for @synod/client's tests of `verify`: a transport in front of a real 4-replica PBFT
// cluster on the simulator. A request's signed envelope is rebuilt from its headers (as the daemon does),
// proposed, and answered with the certificate and the certified result's fields; a watch stream reads the
// answering replica's history. `state` makes it lie: replay or alter answers, forge or drop watch events.
import { decodeSignedClientRequest, encodeSignedClientRequest, membership, toHex, utf8, type CommandResult, type StateMachine } from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { decodeResult, type KvEvent, KvStateMachine } from '@synod/kv'
import { pbft } from '@synod/pbft'
import { memoryStorage } from '@synod/storage'
import { Simulation } from '@synod/transport-memory'
import { certifiedFields, valueText } from '../src/certified-answer.js'
import { operationOf, parseSignedRequestHeaders, type StreamingResponse, type Transport } from '../src/index.js'

export const seed = (name: string) => sha256(utf8(`verify-option:${name}`))

/** @synod/kv applied to the envelope's operation. */
class EnvelopeKv implements StateMachine {
  readonly kv = new KvStateMachine()
  apply(command: Uint8Array, index: number): Uint8Array {
    return this.kv.apply(decodeSignedClientRequest(command).operation, index)
  }
  query(request: Uint8Array): Uint8Array {
    return this.kv.query(request)
  }
  snapshot(): Uint8Array {
    return this.kv.snapshot()
  }
  restore(snapshot: Uint8Array): void {
    this.kv.restore(snapshot)
  }
}

export type Tamper = 'none' | 'replay' | 'alter' | 'alter-list' | 'flip-txn'

export async function setup() {
  const sim = new Simulation({ seed: 5 })
  const machines = new Map<string, EnvelopeKv>()
  const ids = ['r0', 'r1', 'r2', 'r3']
  const pairs = ids.map((id) => keyPairFromSecret(seed(id)))
  const members = membership(ids.map((id, i) => ({ id, publicKey: pairs[i]!.publicKey })))
  const nodes = ids.map((id, i) =>
    sim.addNode({
      id,
      factory: pbft,
      protocolOptions: { clientAuthentication: 'signed', cluster: 'c1' },
      membership: members,
      storage: memoryStorage(),
      createStateMachine: () => {
        const machine = new EnvelopeKv()
        machines.set(id, machine)
        return machine
      },
      signer: createSigner(pairs[i]!),
      verifier: createVerifier(),
      syncLatencyMs: 0,
    }),
  )
  for (const node of nodes) await node.start()
  const state = {
    tamper: 'none' as Tamper,
    lastRead: undefined as Record<string, unknown> | undefined,
    gather: 1,
    /** What the watch stream sends for each event: the event (altered), a list of events (invented ones), or [] (dropped). */
    forgeEvent: (event: Record<string, unknown>): Array<Record<string, unknown>> => [event],
  }
  // Streams wait for the next answered request (a change may have been applied) or their end.
  let wake: () => void = () => undefined
  let changed = new Promise<void>((resolve) => (wake = resolve))
  const notify = (): void => {
    wake()
    changed = new Promise<void>((resolve) => (wake = resolve))
  }
  // `gather` > 1: hold requests until that many arrived (all signed before any is answered), then answer
  // them one at a time — the interleaving of a client's concurrent calls.
  let arrived: Array<() => void> = []
  let turn: Promise<unknown> = Promise.resolve()
  const transport: Transport = {
    async send(req) {
      if (state.gather > 1) {
        await new Promise<void>((resolve) => {
          arrived.push(resolve)
          if (arrived.length >= state.gather) {
            for (const go of arrived) go()
            arrived = []
          }
        })
      }
      const mine = turn.then(() => answerOf(req)).finally(notify)
      turn = mine.catch(() => undefined)
      return mine
    },
    stream: (req) => Promise.resolve(streamOf(req)),
  }
  /** GET /v1/watch as the daemon serves it (apps/node watch.ts), from the answering replica's history. */
  const streamOf = (req: Parameters<Transport['stream']>[0]): StreamingResponse => {
    const url = new URL(req.url)
    const prefix = url.searchParams.get('prefix') ?? ''
    const kv = machines.get('r1')!.kv
    let next = Number(url.searchParams.get('fromRevision') ?? kv.currentRevision + 1)
    const ended = new Promise<void>((resolve) => req.signal.addEventListener('abort', () => resolve(), { once: true }))
    async function* chunks(): AsyncGenerator<string> {
      while (!req.signal.aborted) {
        const read = kv.changesSince(next, prefix, 256)
        if (read.compacted) return
        let chunk = ''
        const sent = read.events.flatMap((event: KvEvent) => state.forgeEvent(eventJson(event)))
        sent.forEach((data, i) => {
          const last = sent[i + 1]?.revision !== data.revision
          chunk += `event: ${String(data.type)}\n${last ? `id: ${String(data.revision)}\n` : ''}data: ${JSON.stringify(data)}\n\n`
        })
        if (read.revision > next) chunk += `event: PROGRESS\nid: ${read.revision - 1}\ndata: {}\n\n`
        next = read.revision
        if (chunk !== '') yield chunk
        await Promise.race([changed, ended])
      }
    }
    return { status: 200, header: () => undefined, chunks, close: () => undefined }
  }
  const answerOf = async (req: Parameters<Transport['send']>[0]) => {
    const url = new URL(req.url)
    const body = req.body === undefined ? {} : (JSON.parse(req.body) as Record<string, unknown>)
    const envelope = encodeSignedClientRequest(parseSignedRequestHeaders(req.headers, operationOf(req.method, url.pathname, body, url.searchParams)!))
    let answer: CommandResult | Error | undefined
    void nodes[1]!.replica!.propose(envelope).then((r) => (answer = r), (e: unknown) => (answer = e as Error))
    await sim.runUntil(() => answer !== undefined, 10_000)
    if (answer === undefined || answer instanceof Error) throw new Error(`no answer: ${String(answer)}`)
    const kv = decodeResult(answer.result)
    const value = kv.ok && kv.op === 'get' ? (kv.value instanceof Uint8Array ? new TextDecoder().decode(kv.value) : null) : undefined
    // The daemon's answer: the certified result's fields around the certificate.
    let json: Record<string, unknown> = { index: answer.index, certificate: toHex(answer.proof!), result: toHex(answer.result), ...certifiedFields(kv) }
    if (state.tamper === 'replay' && state.lastRead !== undefined && value !== undefined) json = state.lastRead
    if (state.tamper === 'alter') json = { ...json, value: 'forged' }
    if (state.tamper === 'alter-list' && Array.isArray(json.kvs)) json = { ...json, kvs: (json.kvs as Array<Record<string, unknown>>).map((e) => ({ ...e, value: 'forged' })) }
    if (state.tamper === 'flip-txn' && typeof json.succeeded === 'boolean') json = { ...json, succeeded: !json.succeeded }
    if (value !== undefined && state.tamper === 'none') state.lastRead = json
    return { status: 200, header: () => undefined, text: JSON.stringify(json) }
  }
  return { members, transport, state, nodes }
}

/** A history event as the daemon's watch stream writes it. */
function eventJson(event: KvEvent): Record<string, unknown> {
  return event.type === 'put'
    ? { type: 'PUT', revision: event.revision, key: event.key, value: valueText(event.value), createRevision: event.createRevision, modRevision: event.modRevision, version: event.version }
    : { type: 'DELETE', revision: event.revision, key: event.key }
}
