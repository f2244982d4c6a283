import { describe, expect, it } from 'vitest'
import { installPromiseWithResolvers, promiseWithResolversShimmed } from '../src/index.js'

type WithResolvers = { withResolvers?: <T>() => { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } }

describe('Promise.withResolvers shim', () => {
  const nodeMajor = Number(process.versions.node.split('.')[0])

  it('is available after importing the package, installed by us exactly when the runtime lacks it', async () => {
    const { withResolvers } = Promise as unknown as Required<WithResolvers>
    expect(typeof withResolvers).toBe('function')
    // Node 22 ships it natively; Node 20 (this machine) needs the shim.
    expect(promiseWithResolversShimmed).toBe(nodeMajor < 22)
    const { promise, resolve } = (Promise as unknown as Required<WithResolvers>).withResolvers<number>()
    resolve(7)
    await expect(promise).resolves.toBe(7)
  })

  it('installs only when missing, and the installed one resolves and rejects', async () => {
    const promiseConstructor = Promise as unknown as WithResolvers
    const original = Object.getOwnPropertyDescriptor(Promise, 'withResolvers')
    try {
      expect(installPromiseWithResolvers()).toBe(false)
      delete promiseConstructor.withResolvers
      expect(installPromiseWithResolvers()).toBe(true)
      const ok = promiseConstructor.withResolvers!<string>()
      ok.resolve('yes')
      await expect(ok.promise).resolves.toBe('yes')
      const bad = promiseConstructor.withResolvers!<string>()
      bad.reject(new Error('no'))
      await expect(bad.promise).rejects.toThrow('no')
    } finally {
      if (original !== undefined) Object.defineProperty(Promise, 'withResolvers', original)
    }
  })
})
