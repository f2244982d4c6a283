// The workspace's publishable packages, and whether their dist/ is current.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

export interface WorkspacePackage {
  readonly dir: string
  readonly name: string
  readonly manifest: Record<string, unknown>
}

export function workspacePackages(): WorkspacePackage[] {
  const found: WorkspacePackage[] = []
  for (const group of ['packages', 'apps', 'tooling']) {
    for (const entry of readdirSync(join(ROOT, group))) {
      const file = join(ROOT, group, entry, 'package.json')
      if (!existsSync(file)) continue
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
      found.push({ dir: join(ROOT, group, entry), name: manifest['name'] as string, manifest })
    }
  }
  return found
}

export const publishable = (): WorkspacePackage[] => workspacePackages().filter((p) => p.manifest['private'] !== true)

function newest(dir: string): number {
  if (!existsSync(dir)) return 0
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** Packages whose dist/ is missing or older than their src/ (tsc rewrites every output on a build). */
export function staleBuilds(packages: readonly WorkspacePackage[]): string[] {
  return packages.filter((p) => newest(join(p.dir, 'dist')) === 0 || newest(join(p.dir, 'src')) > newest(join(p.dir, 'dist'))).map((p) => p.name)
}
