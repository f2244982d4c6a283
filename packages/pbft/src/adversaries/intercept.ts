// The plumbing every PBFT adversary shares: an honest PbftNode whose
// context is wrapped, so the attack sees (and may rewrite, drop or add to)
// what the node sends, receives, is asked and answers. The attack holds the
// node's own signer: whatever it forges carries a valid signature of this
// member, which is exactly what a Byzantine replica can do.
import type { ClientRef, NodeId, ProtocolContext, ProtocolFactory, ProtocolNode, Random } from '@synod/core'
import type { PbftOptions } from '../options.js'

/** What the conformance harness hands a protocol adversary (structurally @synod/conformance's AdversaryContext). */
export interface PbftAdversaryContext {
  readonly factory: ProtocolFactory<PbftOptions>
  readonly node: NodeId
  readonly random: Random
  readonly attack?: string | undefined
}

export interface Answer {
  readonly index: number
  readonly result: Uint8Array
  readonly proof?: Uint8Array
}

/** Hooks of one attack; each gets the honest behaviour as `honest` and decides what happens instead. */
export interface Attack {
  /** Outbound: the honest node sends `bytes` to `to`. */
  send?(to: NodeId, bytes: Uint8Array, honest: (to: NodeId, bytes: Uint8Array) => void): void
  /** Inbound: a message from `from`; `honest` delivers it to the node. */
  receive?(from: NodeId, bytes: Uint8Array, honest: (from: NodeId, bytes: Uint8Array) => void): void
  /** A client's command arrives at this replica (its proxy). */
  propose?(command: Uint8Array, client: ClientRef, honest: (command: Uint8Array, client: ClientRef) => void): void
  /** The node answers one of its clients. */
  respond?(client: ClientRef, answer: Answer, honest: (client: ClientRef, answer: Answer) => void): void
}

/** A factory whose nodes are honest PBFT replicas with `makeAttack(ctx)` between them and the world. */
export function attackingFactory(base: ProtocolFactory<PbftOptions>, name: string, makeAttack: (ctx: ProtocolContext, options: Partial<PbftOptions> | undefined) => Attack): ProtocolFactory<PbftOptions> {
  return {
    ...base,
    name: base.name,
    create: (ctx, options) => {
      const attack = makeAttack(ctx, options)
      const send = (to: NodeId, bytes: Uint8Array) => ctx.send(to, bytes)
      const respond = (client: ClientRef, answer: Answer) => ctx.respond(client, answer)
      // A Proxy keeps every other member of the runtime's context (methods bound to it) untouched.
      const wrapped = new Proxy(ctx, {
        get(target, property) {
          if (property === 'send' && attack.send !== undefined) return (to: NodeId, bytes: Uint8Array) => attack.send!(to, bytes, send)
          if (property === 'respond' && attack.respond !== undefined) return (client: ClientRef, answer: Answer) => attack.respond!(client, answer, respond)
          const value: unknown = Reflect.get(target, property, target)
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
        },
      })
      const honest = base.create(wrapped, options)
      const receive = (from: NodeId, bytes: Uint8Array) => honest.receive(from, bytes)
      const propose = (command: Uint8Array, client: ClientRef) => honest.propose(command, client)
      const attacked: ProtocolNode = {
        start: () => honest.start(),
        stop: () => honest.stop(),
        status: () => ({ ...honest.status(), detail: { ...(honest.status().detail ?? {}), attack: name } }),
        receive: (from, bytes) => (attack.receive === undefined ? receive(from, bytes) : attack.receive(from, bytes, receive)),
        propose: (command, client) => (attack.propose === undefined ? propose(command, client) : attack.propose(command, client, propose)),
      }
      return attacked
    },
  }
}
