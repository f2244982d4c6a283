import type { Random } from '@synod/core'

/** 32-bit FNV-1a of a string; used to derive independent stream seeds from labels. */
export function hashLabel(label: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** splitmix32 step: spreads a 32-bit seed over the xoshiro state so nearby seeds give unrelated streams. */
function splitmix32(state: { value: number }): number {
  state.value = (state.value + 0x9e3779b9) >>> 0
  let z = state.value
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * xoshiro128** (Blackman & Vigna): small, fast, and good enough for fault
 * injection and election jitter. Reproducible across platforms because it
 * uses only 32-bit integer arithmetic.
 */
export class SeededRandom implements Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    const state = { value: seed >>> 0 }
    this.s0 = splitmix32(state)
    this.s1 = splitmix32(state)
    this.s2 = splitmix32(state)
    this.s3 = splitmix32(state)
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1 // the all-zero state is a fixed point
  }

  /** A stream for `label` that does not depend on how much any other stream was used. */
  static forLabel(seed: number, label: string): SeededRandom {
    return new SeededRandom(hashLabel(label, hashLabel(String(seed >>> 0))))
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296
  }

  /** Uniform integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** Uniform real in [min, max). */
  between(min: number, max: number): number {
    return min + this.next() * (max - min)
  }

  /** True with probability `p`. Consumes one draw even for p of 0 or 1 so that fault settings do not shift other draws. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** Exponentially distributed with the given mean. */
  exponential(mean: number): number {
    return -Math.log(1 - this.next()) * mean
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Fisher–Yates shuffle into a new array. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}
