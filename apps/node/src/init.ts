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
    ...(options.security === undefined
      ? {}
      : {
          ...(options.security.cluster === '' ? {} : { cluster: options.security.cluster }),
          authentication: options.security.authentication,
          admins: options.security.admins,
        }),
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
