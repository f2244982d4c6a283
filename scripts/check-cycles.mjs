#!/usr/bin/env node
// Layering check (docs/architecture.md, "Layers"): no import cycles inside a package, no cycles
// between packages, nothing in packages/ depends on apps/, and no protocol
// package depends on another protocol package.
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import madge from 'madge'
import { infrastructurePackages } from '../eslint.config.js'

const root = new URL('..', import.meta.url).pathname
const problems = []
const workspaces = []
for (const group of ['packages', 'apps', 'tooling']) {
  const dir = join(root, group)
  if (!existsSync(dir)) continue
  for (const name of readdirSync(dir)) {
    const pkgFile = join(dir, name, 'package.json')
    if (!existsSync(pkgFile)) continue
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'))
    workspaces.push({ group, folder: name, dir: join(dir, name), pkg })
  }
}
const byName = new Map(workspaces.map((w) => [w.pkg.name, w]))
const deps = (w) =>
  Object.keys({ ...w.pkg.dependencies, ...w.pkg.devDependencies, ...w.pkg.peerDependencies }).filter((d) => byName.has(d))

for (const w of workspaces) {
  for (const d of deps(w)) {
    const target = byName.get(d)
    if (w.group === 'packages' && target.group === 'apps') problems.push(`${w.pkg.name} depends on app ${d}`)
    const isProtocol = (x) => x.group === 'packages' && !infrastructurePackages.includes(x.folder)
    if (isProtocol(w) && isProtocol(target)) problems.push(`protocol ${w.pkg.name} depends on protocol ${d}`)
    if (w.folder === 'conformance' && w.group === 'packages' && isProtocol(target))
      problems.push(`@synod/conformance must not depend on protocol ${d}`)
  }
}

// Cycles between packages (depth-first search over the workspace graph).
const state = new Map()
const visit = (name, path) => {
  if (state.get(name) === 'done') return
  if (state.get(name) === 'active') {
    problems.push(`package cycle: ${[...path.slice(path.indexOf(name)), name].join(' -> ')}`)
    return
  }
  state.set(name, 'active')
  for (const d of deps(byName.get(name))) visit(d, [...path, name])
  state.set(name, 'done')
}
for (const w of workspaces) visit(w.pkg.name, [])

// Cycles between files inside each package.
for (const w of workspaces) {
  const src = join(w.dir, 'src')
  if (!existsSync(src)) continue
  const result = await madge(src, { fileExtensions: ['ts'], detectiveOptions: { ts: { skipTypeImports: true } } })
  for (const cycle of result.circular()) problems.push(`file cycle in ${w.pkg.name}: ${cycle.join(' -> ')}`)
}

if (problems.length > 0) {
  console.error(`layering check failed:\n- ${problems.join('\n- ')}`)
  process.exit(1)
}
console.log(`layering check: ${workspaces.length} workspaces, no cycles, layers respected`)
