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
  type ProtocolFactory,
  type Signer,
  type StateMachine,
  type Verifier,
} from '@synod/core'
import { createSigner, createVerifier, keyPairFromSecret, sha256 } from '@synod/crypto'
import { memoryStorage } from '@synod/storage'
import { Simulation, type LinkFaults, type SimulatedNode } from '@synod/transport-memory'
import { hotstuff, HotstuffNode, type HotstuffOptions } from '../src/index.js'
import { hotstuffAdversary } from '../src/adversaries/index.js'
import { makeBatch, makeBlock, voteDigest, type Batch, type Block, type QC } from '../src/messages.js'

const decoder = new TextDecoder()

/** `set k v` commands; the result names the index and the previous value, so diverging replicas differ. */
export class RegisterMachine implements StateMachine {
  private values = new Map<string, string>()

  apply(command: Uint8Array, index: number): Uint8Array {
    const [op, key = '', value = ''] = decoder.decode(command).split(' ')
    const previous = this.values.get(key) ?? ''
    if (op === 'set') this.values.set(key, value)
    return utf8(`${index}:${previous}`)
  }

  query(request: Uint8Array): Uint8Array {
    return utf8(this.values.get(decoder.decode(request)) ?? '')
  }

  snapshot(): Uint8Array {
    return encodeCanonical([...this.values.entries()].sort())
  }

  restore(snapshot: Uint8Array): void {
    this.values = new Map(decodeCanonical(snapshot) as Array<[string, string]>)
  }
}

export interface NodeKeys {
  readonly signer: Signer
  readonly verifier: Verifier
  readonly publicKey: Uint8Array
}

export function keysFor(id: NodeId): NodeKeys {
  const pair = keyPairFromSecret(sha256(utf8(`hotstuff-test-key:${id}`)))
  return { signer: createSigner(pair, { backend: 'node' }), verifier: createVerifier({ backend: 'node' }), publicKey: pair.publicKey }
}

export interface TestClusterOptions {
  readonly n: number
  readonly seed?: number
  readonly options?: Partial<HotstuffOptions>
  readonly faults?: LinkFaults
  /** Adjust a node right after it is created (test-only switches), per incarnation. */
  readonly tweak?: (node: HotstuffNode, id: NodeId) => void
  readonly createStateMachine?: () => StateMachine
  /** One replica runs the package's adversary (`hotstuffAdversary`, with this attack) instead of the honest node. */
  readonly adversary?: { readonly id: NodeId; readonly attack?: string }
}

/** n HotStuff replicas on the deterministic simulator, recording every commit per node. */
export class TestCluster {
  readonly sim: Simulation
  readonly ids: NodeId[]
  readonly keys: Map<NodeId, NodeKeys>
  readonly membership: Membership
  readonly nodes = new Map<NodeId, SimulatedNode<HotstuffOptions>>()
  /** The protocol instance of each node's current incarnation. */
  readonly protocol = new Map<NodeId, HotstuffNode>()
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
    for (const id of this.ids) {
      const key = this.keys.get(id)!
      this.commits.set(id, new Map())
      const honest: ProtocolFactory<HotstuffOptions> = {
        ...hotstuff,
        create: (ctx, options) => {
          const node = new HotstuffNode(ctx, options)
          this.protocol.set(id, node)
          config.tweak?.(node, id)
          return node
        },
      }
      const adversary = config.adversary
      const factory =
        adversary?.id === id
          ? hotstuffAdversary({ factory: honest, node: id, random: this.sim.random(`adversary:${id}`), attack: adversary.attack })
          : honest
      this.nodes.set(
        id,
        this.sim.addNode<HotstuffOptions>({
          id,
          factory,
          protocolOptions: { viewTimeoutMs: 300, retransmitMs: 150, ...config.options },
          membership: this.membership,
          storage: memoryStorage(),
          createStateMachine: config.createStateMachine ?? (() => new RegisterMachine()),
          signer: key.signer,
          verifier: key.verifier,
          syncLatencyMs: 0,
          requestTimeoutMs: 20_000,
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

  node(id: NodeId): SimulatedNode<HotstuffOptions> {
    return this.nodes.get(id)!
  }

  async start(): Promise<void> {
    for (const node of this.nodes.values()) await node.start()
  }

  propose(via: NodeId, command: string): Promise<CommandResult | Error> {
    return this.node(via).replica!.propose(utf8(command)).catch((error: unknown) => error as Error)
  }

  status(id: NodeId) {
    return this.node(id).replica!.status()
  }

  drops(id: NodeId): Record<string, number> {
    return (this.status(id).detail?.['drops'] ?? {}) as Record<string, number>
  }

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

  async runFor(ms: number): Promise<void> {
    const until = this.sim.now() + ms
    await this.sim.runUntil(() => this.sim.now() >= until, ms + 1)
  }
}

export function isResult(value: CommandResult | Error): value is CommandResult {
  return !(value instanceof Error)
}

/** Builds correctly signed (or deliberately broken) HotStuff messages with members' keys, for byzantine tests. */
export class Forger {
  private readonly endpoints = new Map<NodeId, ReturnType<Simulation['network']['endpoint']>>()
  constructor(private readonly c: TestCluster) {}

  /** A QC over (view, block) signed by `signers` (each signature valid unless listed in `bad`). */
  qc(view: number, block: Uint8Array, signers: readonly NodeId[], bad: readonly NodeId[] = []): QC {
    return {
      view,
      block,
      signatures: signers.map((signer) => {
        const signature = this.sign(signer, voteDigest(view, block)).slice()
        if (bad.includes(signer)) signature[3]! ^= 0x01
        return { signer, signature }
      }),
    }
  }

  private nextSeq = 1_000_000
  private readonly batchesOf = new Map<string, Uint8Array[]>()

  /** A block by `author` ordering one batch of `commands`, signed by `author` as their proxy (see batchesFor). */
  block(author: NodeId, view: number, parent: Block, justify: QC, commands: readonly string[]): Block {
    const batch = commands.length === 0 ? undefined : this.batch(author, this.nextSeq++, commands.map(utf8))
    const block = makeBlock({ view, height: parent.height + 1, parent: parent.hash, justify, batches: batch === undefined ? [] : [batch.digest], author })
    this.batchesOf.set(toHex(block.hash), batch === undefined ? [] : [batch.message])
    return block
  }

  /** The signed batch messages of a block made by `block` (what puts its commands in the receivers' mempools). */
  batchesFor(block: Block): Uint8Array[] {
    return this.batchesOf.get(toHex(block.hash)) ?? []
  }

  /** A proxy's signed batch of commands. */
  batch(proxy: NodeId, seq: number, commands: readonly Uint8Array[]): Batch {
    return makeBatch(proxy, seq, commands, (digest) => this.sign(proxy, digest))
  }

  sign(signer: NodeId, digest: Uint8Array): Uint8Array {
    const keys = this.c.keys.get(signer)
    // Non-members sign with a key of their own: their signatures verify against nothing in the membership.
    return (keys ?? keysFor(signer)).signer.sign(digest)
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

export { decodeMessage, encodeProposal, encodeTimeout, encodeVote, GENESIS, GENESIS_QC, makeBlock, timeoutDigest, voteDigest } from '../src/messages.js'
