// Node 20 lacks `Promise.withResolvers` (ES2024). @libp2p/utils, yamux,
// it-queue, abort-error and mortice call it at run time; without it dials fail
// with a misleading ECONNRESET. This module is the one place that installs it,
// and src/index.ts imports it before anything from libp2p.

interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

type PromiseConstructorMaybeWithResolvers = PromiseConstructor & {
  withResolvers?: <T>() => Resolvers<T>
}

function withResolvers<T>(this: PromiseConstructor): Resolvers<T> {
  let resolve!: (value: T | PromiseLike<T>) => void
  let reject!: (reason?: unknown) => void
  // `this` keeps subclass semantics (`MyPromise.withResolvers()`), as the spec does.
  const promise = new this<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Install `Promise.withResolvers` when the runtime lacks it. Returns true when it installed it. */
export function installPromiseWithResolvers(): boolean {
  const promiseConstructor = Promise as PromiseConstructorMaybeWithResolvers
  if (typeof promiseConstructor.withResolvers === 'function') return false
  Object.defineProperty(Promise, 'withResolvers', {
    value: withResolvers,
    writable: true,
    configurable: true,
    enumerable: false,
  })
  return true
}

/** True when this process runs on the shim rather than a native `Promise.withResolvers`. */
export const promiseWithResolversShimmed: boolean = installPromiseWithResolvers()
