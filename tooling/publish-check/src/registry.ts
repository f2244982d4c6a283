// A throwaway verdaccio registry on 127.0.0.1 for the publish check: storage, auth and config in a temp
// directory, no uplinks (only @synod/* is served from it; everything else comes from the usual registry
// through a scoped .npmrc), one user to publish as.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface LocalRegistry {
  readonly url: string
  /** A token of a user allowed to publish. */
  readonly token: string
  /** Output of the registry process, for failure messages. */
  log(): string
  stop(): Promise<void>
}

const VERDACCIO = fileURLToPath(new URL('../node_modules/verdaccio/bin/verdaccio', import.meta.url))

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export function verdaccioConfig(dir: string): string {
  return [
    `storage: ${JSON.stringify(join(dir, 'storage'))}`,
    'auth:',
    '  htpasswd:',
    `    file: ${JSON.stringify(join(dir, 'htpasswd'))}`,
    '    max_users: 10',
    'uplinks: {}',
    'packages:',
    "  '@synod/*':",
    '    access: $all',
    '    publish: $authenticated',
    "  '**':",
    '    access: $all',
    'web:',
    '  enable: false',
    'log: { type: stdout, format: pretty, level: warn }',
    '',
  ].join('\n')
}

export async function startRegistry(dir: string): Promise<LocalRegistry> {
  mkdirSync(dir, { recursive: true })
  const configFile = join(dir, 'config.yaml')
  writeFileSync(configFile, verdaccioConfig(dir))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}/`
  const child: ChildProcess = spawn(process.execPath, [VERDACCIO, '--config', configFile, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += String(chunk)))
  child.stderr!.on('data', (chunk) => (output += String(chunk)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  try {
    // Bounded wait for the registry to answer (300 × 100 ms).
    let up = false
    for (let i = 0; i < 300 && !up; i++) {
      if (child.exitCode !== null) throw new Error(`verdaccio exited with ${child.exitCode}:\n${output}`)
      up = await fetch(`${url}-/ping`).then((r) => r.ok, () => false)
      if (!up) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    if (!up) throw new Error(`verdaccio did not answer on ${url} within 30 s:\n${output}`)
    const res = await fetch(`${url}-/user/org.couchdb.user:synod-ci`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'synod-ci', password: 'synod-ci-password' }),
    })
    const body = (await res.json()) as { token?: string }
    if (!res.ok || typeof body.token !== 'string') throw new Error(`cannot add a registry user: ${res.status} ${JSON.stringify(body)}`)
    return { url, token: body.token, log: () => output, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
