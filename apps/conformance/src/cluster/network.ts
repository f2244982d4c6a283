// What the nemesis and the runner need from the network between the nodes:
// cut and heal links per direction, say what is cut, show evidence that a cut
// acted, and start a node where it can be reached. Two implementations:
// per-link TCP proxies on 127.0.0.1 (link-proxies.ts, no root) and Linux
// network namespaces with nft drop rules (netns.ts, root only).

export type NetworkKind = 'proxies' | 'netns'

export interface ClusterNetwork {
  readonly kind: NetworkKind
  /** One line for the terminal: what the nodes run in and how faults act. */
  readonly description: string
  /** What `dropped` counts: bytes a proxy threw away, or packets an nft rule dropped. */
  readonly droppedUnit: 'bytes' | 'packets'
  /** Cut every link between different groups (both ways); nodes in no group are cut from everyone. */
  partition(groups: ReadonlyArray<readonly number[]>): void | Promise<void>
  /** Cut every link to and from node `i`. */
  isolate(i: number): void | Promise<void>
  /** One way: messages from any node of `from` to any node of `to` are lost; the other direction still flows. */
  oneWay(from: readonly number[], to: readonly number[]): void | Promise<void>
  /** Jepsen's bridge: two halves that reach each other only through `bridge` (cut both ways between the halves). */
  bridge(left: readonly number[], bridge: number, right: readonly number[]): void | Promise<void>
  /** Whether messages from node `from` to node `to` are lost now. */
  isBlocked(from: number, to: number): boolean
  /** Restore every link. */
  heal(): void | Promise<void>
  /** Evidence that a fault acted: what was lost from node `from` to node `to` so far (see `droppedUnit`). */
  dropped(from: number, to: number): number | Promise<number>
  /** The command prefix that starts node `i`'s process where it belongs (empty: in the runner's network). */
  launcher(i: number): readonly string[]
  /** Remove everything (after the nodes stopped). */
  close(): Promise<void>
}

/** A bridge whose node belongs to a half is a mistake in the schedule. */
function checkBridge(left: readonly number[], bridge: number, right: readonly number[]): void {
  if (left.includes(bridge) || right.includes(bridge)) throw new Error('the bridge node belongs to neither half')
}

/** The blocked(from, to) predicates of the nemesis's operations (shared by both networks). */
export const blockedBy = {
  partition(groups: ReadonlyArray<readonly number[]>): (from: number, to: number) => boolean {
    const groupOf = new Map<number, number>()
    groups.forEach((group, g) => group.forEach((node) => groupOf.set(node, g)))
    return (from, to) => groupOf.get(from) === undefined || groupOf.get(from) !== groupOf.get(to)
  },
  isolate(i: number): (from: number, to: number) => boolean {
    return (from, to) => from === i || to === i
  },
  oneWay(from: readonly number[], to: readonly number[]): (a: number, b: number) => boolean {
    return (a, b) => from.includes(a) && to.includes(b)
  },
  bridge(left: readonly number[], bridge: number, right: readonly number[]): (a: number, b: number) => boolean {
    checkBridge(left, bridge, right)
    return (a, b) => (left.includes(a) && right.includes(b)) || (right.includes(a) && left.includes(b))
  },
}
