// `synod init`: a node key (mode 0600) and a starter config.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ConfigError, toHex } from '@synod/core'
import { createSigner, decodeKeyFile, encodeKeyFile, generateKeyPair, type KeyPair } from '@synod/crypto'
import { signJoinRequest } from './auth/join-proof.js'
import { peerIdFromPublicKey } from '@synod/transport-libp2p'
import type { MemberConfig } from './config.js'

export const KEY_FILE_NAME = 'node.key'

/**
 * Make `dir` a data directory only this user can enter (0700), also when it
 * already existed with looser permissions: it holds the node key, the log and
 * the config.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
}

/** Write `text` to `file`, readable by its owner only (0600), also when replacing an existing file. */
export function writePrivateFile(file: string, text: string | Uint8Array): void {
  writeFileSync(file, text, { mode: 0o600 })
  chmodSync(file, 0o600)
}

/** Write a fresh key into `dir` and return the node's identity. */
export async function initNode(dir: string, force = false): Promise<{ id: string; publicKey: string; keyFile: string }> {
  ensurePrivateDir(dir)
  const keyFile = join(dir, KEY_FILE_NAME)
  if (existsSync(keyFile) && !force)
    throw new ConfigError(`${keyFile} already exists; refusing to overwrite a node identity (use --force to replace it)`)
  const keyPair = generateKeyPair()
  writePrivateFile(keyFile, encodeKeyFile(keyPair))
  return { id: peerIdFromPublicKey(keyPair.publicKey), publicKey: toHex(keyPair.publicKey), keyFile }
}

/** Read a key file, refusing one that other users can read. */
export function readKeyFile(file: string): KeyPair {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch (error) {
    throw new ConfigError(`cannot read key file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (run synod init)`, 'keyFile')
  }
  if ((mode & 0o077) !== 0)
    throw new ConfigError(
      `key file ${file} is accessible by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${file}`,
      'keyFile',
    )
  try {
    return decodeKeyFile(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new ConfigError(`key file ${file} is invalid: ${(error as Error).message}`, 'keyFile')
  }
}

export interface InitOptions {
  readonly dataDir: string
  readonly protocol: string
  readonly listen: string
  readonly http: string
  readonly force: boolean
  /** Members of a running cluster to join: the config lists them and sets join. */
  readonly join?: readonly MemberConfig[]
  /** Authentication on/off, the first admins and the cluster name (a joining node copies the cluster's). */
  readonly security?: { readonly authentication: boolean; readonly admins: readonly string[]; readonly cluster: string }
}

export async function initCommand(
  options: InitOptions,
): Promise<{ id: string; publicKey: string; keyFile: string; configFile: string; joinRequestFile?: string }> {
  const dir = resolve(options.dataDir)
  const identity = await initNode(dir, options.force)
  const configFile = join(dir, 'synod.json')
  const config = {
    protocol: options.protocol,
    dataDir: dir,
    listen: [options.listen],
    http: options.http,
    members: [
      ...(options.join ?? []).filter((m) => m.id !== identity.id),
      { id: identity.id, publicKey: identity.publicKey, addrs: [options.listen], http: options.http },
    ],
    ...(options.join === undefined ? {} : { join: true }),
    ...securityFields(options.security),
  }
  if (!existsSync(configFile) || options.force) writePrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`)
  if (options.join === undefined) return { ...identity, configFile }
  // The signed join request an admin passes to `synod members add --join-request` (proof we hold the key).
  const me: MemberConfig = { id: identity.id, publicKey: identity.publicKey, addrs: [options.listen], http: options.http }
  const proof = signJoinRequest(createSigner(readKeyFile(identity.keyFile).secretKey), me, options.security?.cluster ?? '')
  const joinRequestFile = join(dir, 'join-request.json')
  writeFileSync(joinRequestFile, `${JSON.stringify({ ...me, proof }, null, 2)}\n`)
  return { ...identity, configFile, joinRequestFile }
}

/** The config fields of `security` (none when undefined; `cluster` only when named). */
function securityFields(security: InitOptions['security']): Record<string, unknown> {
  if (security === undefined) return {}
  return { ...(security.cluster === '' ? {} : { cluster: security.cluster }), authentication: security.authentication, admins: security.admins }
}

export interface InitClusterOptions {
  /** Parent folder: node1 … nodeN are created in it. */
  readonly dir: string
  readonly nodes: number
  readonly protocol: string
  /** One host per node (or one for all). Default 127.0.0.1. */
  readonly hosts: readonly string[]
  /** libp2p and HTTP ports of the first node on each host; further nodes on the same host count up from them. */
  readonly p2pPort: number
  readonly httpPort: number
  readonly security?: InitOptions['security']
}

/**
 * `synod init --nodes N --out DIR`: a static cluster's identities and configs in one step — DIR/node1 …
 * DIR/nodeN, each with its key (0600) and a synod.json listing every member, so running nodes yourself
 * needs no hand-copied JSON. `dataDir` is '.', relative to the config, so a node's folder can be copied
 * to its machine as it is.
 */
export async function initClusterCommand(options: InitClusterOptions): Promise<Array<{ name: string; id: string; dir: string; configFile: string; listen: string; http: string }>> {
  const hosts = options.hosts.length === 0 ? ['127.0.0.1'] : options.hosts
  if (hosts.length !== 1 && hosts.length !== options.nodes)
    throw new ConfigError(`--hosts lists ${hosts.length} hosts for ${options.nodes} nodes: give one host per node, or one for all`, 'hosts')
  for (const host of hosts)
    if (!/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(host))
      throw new ConfigError(`'${host}' is not an IPv4 address: a node's http address and libp2p listen address are IPs`, 'hosts')
  const root = resolve(options.dir)
  const onHost = new Map<string, number>()
  const planned = Array.from({ length: options.nodes }, (_, i) => {
    const host = hosts.length === 1 ? hosts[0]! : hosts[i]!
    // The k-th node on a host takes the base ports + k: nodes sharing a machine never collide.
    const k = onHost.get(host) ?? 0
    onHost.set(host, k + 1)
    const p2p = options.p2pPort + k
    const http = options.httpPort + k
    if (p2p > 65_535 || http > 65_535) throw new ConfigError(`node${i + 1} would need port ${Math.max(p2p, http)}, over 65535`, 'port')
    return { name: `node${i + 1}`, listen: `/ip4/${host}/tcp/${p2p}`, http: `${host}:${http}` }
  })
  for (const p of planned)
    if (existsSync(join(root, p.name, KEY_FILE_NAME))) throw new ConfigError(`${join(root, p.name)} already holds a node identity; refusing to overwrite it`)
  ensurePrivateDir(root)
  const identities = []
  for (const p of planned) identities.push({ ...p, dir: join(root, p.name), ...(await initNode(join(root, p.name))) })
  const members: MemberConfig[] = identities.map((n) => ({ id: n.id, publicKey: n.publicKey, addrs: [n.listen], http: n.http }))
  return identities.map((n) => {
    const configFile = join(n.dir, 'synod.json')
    const config = {
      protocol: options.protocol,
      dataDir: '.',
      listen: [n.listen],
      http: n.http,
      members,
      ...securityFields(options.security),
    }
    writePrivateFile(configFile, `${JSON.stringify(config, null, 2)}\n`)
    return { name: n.name, id: n.id, dir: n.dir, configFile, listen: n.listen, http: n.http }
  })
}
