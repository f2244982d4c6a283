import {
  decodeCanonical,
  encodeCanonical,
  membership,
  toHex,
  utf8,
  type CommandResult,
  type Member,
  type Membership,
  type NodeId,
  type ProtocolEvent,
  type Signer,
  type StateMachine,
  type Verifier,
} from '@synod/core'
import { createSigner, createVerifier, hmacSha256, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { Simulation, type LinkFaults, type SimulatedNode } from '@synod/transport-memory'
import { pbft, type PbftOptions } from '../src/index.js'
import { batchDigest, encodeBundleBody, encodePhaseVote, encodePrePrepare, encodeRequest, statement, type Bundle } from '../src/messages.js'

/**
 * A deterministic little state machine: a key/value map of `set k v`
 * commands whose result names the index and the previous value, so that
 * results differ between replicas that diverge.
 */
const decoder = new TextDecoder()

export class RegisterMachine implements StateMachine {
  private values = new Map<string, string>()
  private applied = 0

  apply(command: Uint8Array, index: number): Uint8Array {
    const text = decoder.decode(command)
    const [op, key = '', value = ''] = text.split(' ')
    const previous = this.values.get(key) ?? ''
    if (op === 'set') this.values.set(key, value)
    this.applied++
    return utf8(`${index}:${previous}`)
  }

  query(request: Uint8Array): Uint8Array {
    return utf8(this.values.get(decoder.decode(request)) ?? '')
  }

  snapshot(): Uint8Array {
    return encodeCanonical({ a: this.applied, v: [...this.values.entries()].sort() })
  }

  restore(snapshot: Uint8Array): void {
    const s = decodeCanonical(snapshot) as { a: number; v: Array<[string, string]> }
    this.applied = s.a
    this.values = new Map(s.v)
  }
}

export interface NodeKeys {
  readonly signer: Signer
  readonly verifier: Verifier
  readonly publicKey: Uint8Array
}

export function keysFor(id: NodeId): NodeKeys {
  const pair = keyPairFromSecret(sha256(utf8(`pbft-test-key:${id}`)))
  return { signer: createSigner(pair, { backend: 'node' }), verifier: createVerifier({ backend: 'node' }), publicKey: pair.publicKey }
}

export interface TestClusterOptions {
  readonly n: number
  readonly seed?: number
  readonly options?: Partial<PbftOptions>
  readonly faults?: LinkFaults
  readonly requestTimeoutMs?: number
  /** The state machine of each replica (default: a RegisterMachine). */
  readonly createStateMachine?: (id: NodeId) => StateMachine
}

/** n PBFT replicas on the deterministic simulator, recording every commit per node. */
export class TestCluster {
  readonly sim: Simulation
  readonly ids: NodeId[]
  readonly keys: Map<NodeId, NodeKeys>
  readonly membership: Membership
  readonly nodes: Map<NodeId, SimulatedNode<PbftOptions>>
  /** node → index → hex digest of the command (all incarnations). */
  readonly commits = new Map<NodeId, Map<number, string>>()
  readonly events: Array<{ node: NodeId; event: ProtocolEvent }> = []
  readonly errors: unknown[] = []

  constructor(readonly config: TestClusterOptions) {
    this.sim = new Simulation({ seed: config.seed ?? 1 })
    if (config.faults !== undefined) this.sim.network.setDefaultFaults(config.faults)
    this.ids = Array.from({ length: config.n }, (_, i) => `r${i}`)
    this.keys = new Map(this.ids.map((id) => [id, keysFor(id)]))
    const members: Member[] = this.ids.map((id) => ({ id, publicKey: this.keys.get(id)!.publicKey }))
    this.membership = membership(members)
    this.nodes = new Map()
    for (const id of this.ids) {
      const key = this.keys.get(id)!
      this.commits.set(id, new Map())
      this.nodes.set(
        id,
        this.sim.addNode<PbftOptions>({
          id,
          factory: pbft,
          ...(config.options === undefined ? {} : { protocolOptions: config.options }),
          membership: this.membership,
          storage: memoryStorage(),
          createStateMachine: config.createStateMachine === undefined ? () => new RegisterMachine() : () => config.createStateMachine!(id),
          signer: key.signer,
          verifier: key.verifier,
          syncLatencyMs: 0,
          requestTimeoutMs: config.requestTimeoutMs ?? 20_000,
          onCommit: (entry) => {
            const log = this.commits.get(id)!
            const digest = toHex(sha256(entry.command))
            const before = log.get(entry.index)
            if (before !== undefined && before !== digest) throw new Error(`${id} re-committed index ${entry.index} with another command`)
            log.set(entry.index, digest)
          },
          onEvent: (event) => this.events.push({ node: id, event }),
          onError: (error) => this.errors.push(error),
        }),
      )
    }
  }

  node(id: NodeId): SimulatedNode<PbftOptions> {
    return this.nodes.get(id)!
  }

  async start(): Promise<void> {
    for (const node of this.nodes.values()) await node.start()
  }

  /** Propose through replica `via`; resolves with the answer (or the error). */
  propose(via: NodeId, command: string): Promise<CommandResult | Error> {
    return this.node(via).replica!.propose(utf8(command)).catch((error: unknown) => error as Error)
  }

  status(id: NodeId) {
    return this.node(id).replica!.status()
  }

  /** No two nodes (among `among`) committed different commands at an index. */
  assertAgreement(among: readonly NodeId[] = this.ids): void {
    const seen = new Map<number, { node: NodeId; digest: string }>()
    for (const id of among) {
      for (const [index, digest] of this.commits.get(id)!) {
        const other = seen.get(index)
        if (other === undefined) seen.set(index, { node: id, digest })
        else if (other.digest !== digest) throw new Error(`disagreement at index ${index}: ${other.node} vs ${id}`)
      }
    }
  }

  committedCount(id: NodeId): number {
    return this.commits.get(id)!.size
  }

  /** Run the simulation until every promise settled (or the virtual budget ran out), then return their values. */
  async settle<T>(promises: ReadonlyArray<Promise<T>>, budgetMs = 10_000): Promise<T[]> {
    let done = 0
    for (const p of promises) void p.then(() => done++, () => done++)
    await this.sim.runUntil(() => done === promises.length, budgetMs)
    if (done !== promises.length) throw new Error(`${promises.length - done} of ${promises.length} requests still pending after ${budgetMs} virtual ms`)
    return Promise.all(promises)
  }

  async runUntil(predicate: () => boolean, budgetMs: number): Promise<void> {
    await this.sim.runUntil(predicate, budgetMs)
  }
}

export function isResult(value: CommandResult | Error): value is CommandResult {
  return !(value instanceof Error)
}

/** Builds correctly signed (or deliberately broken) PBFT messages with a member's key, for byzantine tests. */
export class Forger {
  private readonly endpoints = new Map<NodeId, ReturnType<Simulation['network']['endpoint']>>()
  constructor(private readonly c: TestCluster) {}

  bundle(proxy: NodeId, ts: number, ops: readonly string[]): Bundle {
    const body = encodeBundleBody(proxy, ts, ops.map(utf8))
    const digest = sha256(body)
    const sig = this.c.keys.get(proxy)!.signer.sign(statement('request', digest))
    return { proxy, ts, ops: ops.map(utf8), body, sig, digest }
  }

  /** A 'mac' mode bundle whose authenticator is valid only for the replicas `validFor` accepts (all by default). */
  macBundle(proxy: NodeId, ts: number, ops: readonly string[], validFor: (replica: NodeId) => boolean = () => true): Bundle {
    const body = encodeBundleBody(proxy, ts, ops.map(utf8))
    const digest = sha256(body)
    const signed = statement('request', digest)
    const proxyKeys = this.c.keys.get(proxy)!
    const tags = this.c.membership.voters.map((m) => {
      const tag = hmacSha256(proxyKeys.signer.sharedKey!(m.publicKey), signed)
      if (!validFor(m.id)) tag[0]! ^= 0x01
      return tag
    })
    return { proxy, ts, ops: ops.map(utf8), body, digest, tags }
  }

  prePrepare(primary: NodeId, view: number, seq: number, bundles: readonly Bundle[]): Uint8Array {
    const digest = batchDigest(bundles)
    return encodePrePrepare(view, seq, bundles, this.c.keys.get(primary)!.signer.sign(statement('pre-prepare', view, seq, digest)))
  }

  vote(kind: 'p' | 'c', signer: NodeId, view: number, seq: number, digest: Uint8Array): Uint8Array {
    const sig = this.c.keys.get(signer)!.signer.sign(statement(kind === 'p' ? 'prepare' : 'commit', view, seq, digest))
    return encodePhaseVote(kind, view, seq, digest, sig)
  }

  /** A vote whose signature does not verify (one bit flipped). */
  badVote(kind: 'p' | 'c', signer: NodeId, view: number, seq: number, digest: Uint8Array): Uint8Array {
    const sig = this.c.keys.get(signer)!.signer.sign(statement(kind === 'p' ? 'prepare' : 'commit', view, seq, digest)).slice()
    sig[7]! ^= 0x01
    return encodePhaseVote(kind, view, seq, digest, sig)
  }

  request(bundle: Bundle): Uint8Array {
    return encodeRequest(bundle)
  }

  /** Send raw bytes that the network authenticates as coming from `from` (a byzantine member). */
  inject(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    let endpoint = this.endpoints.get(from)
    if (endpoint === undefined) {
      endpoint = this.c.sim.network.endpoint(from, `${from}~forger`)
      this.endpoints.set(from, endpoint)
    }
    endpoint.send(to, bytes)
  }
}

export { decodeMessage } from '../src/messages.js'
