// Adversaries look at the honest node's own (well-formed) traffic; anything
// they cannot decode they pass through untouched.
export function tryDecode<T>(bytes: Uint8Array, decode: (bytes: Uint8Array) => T): T | undefined {
  try {
    return decode(bytes)
  } catch {
    return undefined
  }
}

/** An integer in [0, max] from a core Random (only `next()` in [0, 1)). */
export function randomInt(random: { next(): number }, max: number): number {
  return Math.min(max, Math.floor(random.next() * (max + 1)))
}

export function randomPick<T>(random: { next(): number }, items: readonly T[]): T {
  return items[randomInt(random, items.length - 1)]!
}
