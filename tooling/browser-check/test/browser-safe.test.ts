// Every browser-safe entry bundles for the browser: esbuild with platform 'browser' resolves no
// `node:` built-in (or any other module a browser does not have). The checker is shown to reject:
// `@synod/storage/node` (the durable storage, node:fs) must fail to bundle.
import { build } from 'esbuild'
import { BROWSER_BUILD } from '../src/bundle.js'
import { describe, expect, it } from 'vitest'

/** Bundle `source` for the browser; the error texts of what could not be resolved, [] when it bundles. */
async function bundleErrors(source: string): Promise<string[]> {
  try {
    await build({
      stdin: { contents: source, resolveDir: import.meta.dirname, loader: 'ts' },
      ...BROWSER_BUILD,
    })
    return []
  } catch (error) {
    return ((error as { errors?: Array<{ text: string }> }).errors ?? [{ text: String(error) }]).map((e) => e.text)
  }
}

// The packages whose main entry must run in a browser (the handbook's rule: protocol packages, the
// simulator, the KV state machine, crypto with its noble backend, in-memory storage, the HTTP client).
const BROWSER_SAFE = ['@synod/core', '@synod/crypto', '@synod/kv', '@synod/raft', '@synod/pbft', '@synod/hotstuff', '@synod/paxos', '@synod/transport-memory', '@synod/storage', '@synod/client']

describe('browser-safe entries', () => {
  it.each(BROWSER_SAFE)('%s bundles for the browser with no node: module', async (name) => {
    expect(await bundleErrors(`export * from '${name}'`)).toEqual([])
  })

  it('the checker rejects a Node-only entry: @synod/storage/node needs node:fs', async () => {
    const errors = await bundleErrors(`export * from '@synod/storage/node'`)
    expect(errors.some((e) => e.includes('node:fs'))).toBe(true)
  })

  it("@synod/client's node:http transport stays in its Node-only entry, @synod/client/node", async () => {
    const errors = await bundleErrors(`export * from '@synod/client/node'`)
    expect(errors.some((e) => e.includes('node:http'))).toBe(true)
  })
})
