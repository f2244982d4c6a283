// Which protocol packages an app has installed: its package.json dependencies whose own package.json
// carries a `synod` field (ADR 0018). Only JSON is read: listing protocols (`synod --help`, the
// runner's --list) imports no protocol code, so a broken or unbuilt package fails only when it is run.
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseProtocolManifest, ProtocolManifestError, type ProtocolManifest } from '../registry/manifest.js'

/** One installed protocol package and its validated declaration. */
export interface InstalledProtocol {
  /** The npm name to import, e.g. '@synod/raft'. */
  readonly packageName: string
  /** Its folder (symlinks resolved). */
  readonly packageDir: string
  readonly manifest: ProtocolManifest
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
}

/**
 * The folder of package `name` as Node would find it from `fromDir`: the first
 * `node_modules/<name>` up the folder tree (pnpm's symlinks, npm's nested or hoisted installs).
 */
export function findPackageDir(name: string, fromDir: string): string | undefined {
  let dir = fromDir
  for (;;) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate)
    const parent = dirname(dir)
    if (parent === dir) return undefined
    dir = parent
  }
}

/**
 * The protocol packages among the dependencies of the app whose package.json is `appManifest`,
 * sorted by protocol name. A dependency that is not installed is left out (run `pnpm install`);
 * an invalid `synod` field, or two packages (or variants) claiming one name, is an error.
 */
export function installedProtocols(appManifest: string | URL): InstalledProtocol[] {
  const manifestPath = typeof appManifest === 'string' ? appManifest : fileURLToPath(appManifest)
  const app = readJson(manifestPath)
  const dependencies = { ...(app['optionalDependencies'] as object | undefined), ...(app['dependencies'] as object | undefined) }
  const found: InstalledProtocol[] = []
  for (const packageName of Object.keys(dependencies)) {
    const packageDir = findPackageDir(packageName, dirname(manifestPath))
    if (packageDir === undefined) continue
    const declaration = readJson(join(packageDir, 'package.json'))['synod']
    if (declaration === undefined) continue
    found.push({ packageName, packageDir, manifest: parseProtocolManifest(declaration, packageName) })
  }
  const owners = new Map<string, string>()
  for (const { packageName, manifest } of found)
    for (const name of [manifest.protocol, ...Object.keys(manifest.conformance.variants)]) {
      const owner = owners.get(name)
      if (owner !== undefined) throw new ProtocolManifestError(packageName, `protocol name '${name}' is already taken by ${owner}`)
      owners.set(name, packageName)
    }
  return found.sort((a, b) => (a.manifest.protocol < b.manifest.protocol ? -1 : 1))
}
