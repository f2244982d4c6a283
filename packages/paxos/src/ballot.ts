import type { NodeId } from '@synod/core'

/**
 * Ballots are (round, node) pairs, totally ordered by round and then by the
 * node's position in the sorted voter list. They are carried as one integer,
 * `round × n + position`, so the order is plain integer order, the same
 * ballot can never belong to two nodes, and the ballot doubles as the `term`
 * the checkers and reports read (one leader per term). 0 is "no ballot".
 */
export class Ballots {
  readonly voters: readonly NodeId[]
  private readonly position = new Map<NodeId, number>()

  constructor(voters: readonly NodeId[]) {
    this.voters = [...voters].sort()
    this.voters.forEach((id, i) => this.position.set(id, i))
  }

  get size(): number {
    return this.voters.length
  }

  isVoter(id: NodeId): boolean {
    return this.position.has(id)
  }

  /** The node that owns ballot `b` (undefined for 0). */
  owner(b: number): NodeId | undefined {
    if (b <= 0) return undefined
    return this.voters[b % this.voters.length]
  }

  round(b: number): number {
    return Math.floor(b / this.voters.length)
  }

  /** `self`'s smallest ballot above `above`. */
  next(self: NodeId, above: number): number {
    const position = this.position.get(self)
    if (position === undefined) throw new Error(`${self} is not a voter`)
    const n = this.voters.length
    let b = this.round(above) * n + position
    if (b <= above) b += n
    if (b === 0) b = n // round 0 of position 0 would be "no ballot"
    return b
  }
}
