// @synod/core/node: a protocol package's `synod` field is validated strictly, installed
// protocol packages are found from an app's package.json, and loading checks the factory against
// the declaration.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { CONTRACT_VERSION, type ProtocolFactory } from '../src/index.js'
import {
  findPackageDir,
  importExtrasModule,
  installedProtocols,
  loadInstalledFactory,
  parseProtocolManifest,
  ProtocolManifestError,
  ProtocolUnavailableError,
} from '../src/registry/index.js'

const minimal = { protocol: 'echo', factory: 'echo', faultModel: 'crash' }

describe('parseProtocolManifest', () => {
  it('fills the defaults of a minimal declaration', () => {
    expect(parseProtocolManifest(minimal, '@x/echo')).toEqual({
      ...minimal,
      workInProgress: false,
      daemonOptions: {},
      conformance: { capabilities: [], variants: {} },
    })
  })

  it('keeps a full declaration', () => {
    const full = {
      ...minimal,
      workInProgress: true,
      daemonOptions: { heartbeatIntervalMs: 100 },
      conformance: {
        capabilities: ['reconfigure'],
        variants: { 'echo-fast': { fast: true } },
        extras: { module: './adversaries', adversary: 'echoAdversary', scenarios: 'echoScenarios' },
      },
    }
    expect(parseProtocolManifest(full, '@x/echo')).toEqual(full)
  })

  it.each([
    ['not an object', 'echo', /expected an object/],
    ['a typo in a field name', { ...minimal, faultmodel: 'crash' }, /unknown field 'faultmodel'/],
    ['an uppercase name', { ...minimal, protocol: 'Echo' }, /'protocol' must be a lowercase name/],
    ['a factory that is not an export name', { ...minimal, factory: './echo.js' }, /'factory' must name an export/],
    ['an unknown fault model', { ...minimal, faultModel: 'omission' }, /'faultModel' must be 'crash' or 'byzantine'/],
    ['a non-boolean work-in-progress flag', { ...minimal, workInProgress: 'yes' }, /'workInProgress' must be true or false/],
    ['daemon options that are not an object', { ...minimal, daemonOptions: [1] }, /'daemonOptions' must be an object/],
    ['a variant not named after the protocol', { ...minimal, conformance: { variants: { fast: {} } } }, /variant 'fast' must be named 'echo-<mode>'/],
    ['capabilities that are not strings', { ...minimal, conformance: { capabilities: [1] } }, /'conformance.capabilities' must be an array of strings/],
    ['an extras module outside the package', { ...minimal, conformance: { extras: { module: '../x', adversary: 'a' } } }, /must be a subpath export/],
    ['extras without an adversary', { ...minimal, conformance: { extras: { module: './adversaries' } } }, /'conformance.extras.adversary' must name an export/],
  ])('refuses %s, naming the package', (_, value, message) => {
    expect(() => parseProtocolManifest(value, '@x/echo')).toThrow(ProtocolManifestError)
    expect(() => parseProtocolManifest(value, '@x/echo')).toThrow(message)
    expect(() => parseProtocolManifest(value, '@x/echo')).toThrow(/^@x\/echo: invalid "synod" field in package\.json/)
  })
})

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** A folder tree: an app at root/app with `dependencies`, and packages installed under the given node_modules folders. */
function tree(dependencies: Record<string, string>, installed: Record<string, { at: string; manifest: Record<string, unknown> }>): string {
  const root = mkdtempSync(join(tmpdir(), 'synod-registry-'))
  dirs.push(root)
  mkdirSync(join(root, 'app'))
  writeFileSync(join(root, 'app', 'package.json'), JSON.stringify({ name: 'app', dependencies }))
  for (const [name, { at, manifest }] of Object.entries(installed)) {
    const dir = join(root, at, 'node_modules', name)
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, ...manifest }))
  }
  return join(root, 'app', 'package.json')
}

describe('installedProtocols', () => {
  it("finds the app's dependencies that declare a protocol, nested or hoisted, sorted by name; ignores the rest", () => {
    const app = tree(
      { '@x/zab': '1', '@x/echo': '1', '@x/util': '1', '@x/not-installed': '1', 'synod-protocol-vr': '1' },
      {
        '@x/zab': { at: 'app', manifest: { synod: { protocol: 'zab', factory: 'zab', faultModel: 'crash' } } },
        '@x/echo': { at: '.', manifest: { synod: minimal } }, // hoisted, as npm may install it
        '@x/util': { at: 'app', manifest: {} },
        'synod-protocol-vr': { at: 'app', manifest: { synod: { protocol: 'vr', factory: 'vr', faultModel: 'crash' } } },
        '@x/not-a-dependency': { at: 'app', manifest: { synod: { protocol: 'other', factory: 'other', faultModel: 'crash' } } },
      },
    )
    const found = installedProtocols(app)
    expect(found.map((p) => [p.manifest.protocol, p.packageName])).toEqual([
      ['echo', '@x/echo'],
      ['vr', 'synod-protocol-vr'],
      ['zab', '@x/zab'],
    ])
    expect(found[0]!.packageDir).toBe(findPackageDir('@x/echo', join(app, '..')))
  })

  it('refuses two packages (or a variant) claiming one protocol name, and an invalid declaration', () => {
    const clash = tree(
      { '@x/a': '1', '@x/b': '1' },
      {
        '@x/a': { at: 'app', manifest: { synod: { ...minimal, conformance: { variants: { 'echo-lease': {} } } } } },
        '@x/b': { at: 'app', manifest: { synod: { ...minimal, protocol: 'echo-lease' } } },
      },
    )
    expect(() => installedProtocols(clash)).toThrow("@x/b: invalid \"synod\" field in package.json: protocol name 'echo-lease' is already taken by @x/a")
    const invalid = tree({ '@x/a': '1' }, { '@x/a': { at: 'app', manifest: { synod: { ...minimal, faultModel: 'sometimes' } } } })
    expect(() => installedProtocols(invalid)).toThrow(/@x\/a: .*'faultModel'/)
  })
})

describe('loadInstalledFactory', () => {
  const factory: ProtocolFactory<unknown> = { contract: CONTRACT_VERSION, name: 'echo', faultModel: 'crash', maxFaulty: () => 0, create: () => ({}) as never }
  const installed = (manifest: Record<string, unknown>) => ({ packageName: '@x/echo', packageDir: '/nowhere', manifest: parseProtocolManifest(manifest, '@x/echo') })

  it('imports the package through the given import and takes the declared export', async () => {
    const imported: string[] = []
    const loaded = await loadInstalledFactory(installed(minimal), async (specifier) => {
      imported.push(specifier)
      return { echo: factory }
    })
    expect(loaded).toBe(factory)
    expect(imported).toEqual(['@x/echo'])
  })

  it('refuses a factory whose fault model or name differs from the declaration, or a missing export', async () => {
    await expect(loadInstalledFactory(installed({ ...minimal, faultModel: 'byzantine' }), async () => ({ echo: factory }))).rejects.toThrow(
      "protocol 'echo' is registered but unavailable: @x/echo's package.json declares faultModel 'byzantine' but its factory says 'crash'",
    )
    await expect(loadInstalledFactory(installed({ ...minimal, protocol: 'ekko' }), async () => ({ echo: factory }))).rejects.toThrow(/named 'echo'/)
    await expect(loadInstalledFactory(installed(minimal), async () => ({ other: factory }))).rejects.toThrow(ProtocolUnavailableError)
    await expect(loadInstalledFactory(installed(minimal), () => Promise.reject(new Error('Cannot find module')))).rejects.toThrow(/cannot import @x\/echo/)
  })

  it("imports the extras module as the package's subpath", async () => {
    const imported: string[] = []
    const manifest = { ...minimal, conformance: { extras: { module: './adversaries', adversary: 'a' } } }
    expect(await importExtrasModule(installed(manifest), async (s) => (imported.push(s), { a: 1 }))).toEqual({ a: 1 })
    expect(imported).toEqual(['@x/echo/adversaries'])
    expect(await importExtrasModule(installed(minimal), async () => ({ a: 1 }))).toEqual({})
  })
})
