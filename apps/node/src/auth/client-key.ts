// A client's identity on disk: an ed25519 key file like a node's (mode
// 0600), by default ~/.synod/client.key (or SYNOD_CLIENT_KEY), and the
// credentials the CLI builds from it and from TLS files.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, resolve } from 'node:path'
import { clientIdOf, ConfigError } from '@synod/core'
import { createSigner, encodeKeyFile, generateKeyPair, type KeyPair } from '@synod/crypto'
import { readKeyFile } from '../init.js'
import type { ClientCredentials } from '@synod/client'

export function defaultClientKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.SYNOD_CLIENT_KEY ?? `${homedir()}/.synod/client.key`)
}

/** Write a new client key; refuses to replace one unless `force`. */
export function createClientKey(file: string, force = false): { clientId: string; file: string } {
  if (existsSync(file) && !force) throw new ConfigError(`${file} already exists; refusing to overwrite a client identity (use --force to replace it)`)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const keyPair = generateKeyPair()
  writeFileSync(file, encodeKeyFile(keyPair), { mode: 0o600 })
  chmodSync(file, 0o600)
  return { clientId: clientIdOf(keyPair.publicKey), file }
}

/** The client key at `file`, created first when absent (the demo and `init` make the first admin this way). */
export function ensureClientKey(file: string): { keyPair: KeyPair; created: boolean } {
  const created = !existsSync(file)
  if (created) createClientKey(file)
  return { keyPair: readKeyFile(file), created }
}

export interface CredentialFlags {
  /** Explicit key file (must exist); otherwise the default one is used when it exists. */
  readonly clientKey?: string
  readonly cluster?: string
  readonly ca?: string
  readonly cert?: string
  readonly certKey?: string
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
}

/** Credentials for the CLI: sign with the client key (if any), speak TLS when a CA is given. */
export function loadCredentials(flags: CredentialFlags, env: NodeJS.ProcessEnv = process.env): ClientCredentials {
  const keyFile = flags.clientKey ?? defaultClientKeyPath(env)
  const signer = flags.clientKey !== undefined || existsSync(keyFile) ? createSigner(readKeyFile(keyFile)) : undefined
  const caFile = flags.ca ?? env.SYNOD_CA
  const certFile = flags.cert ?? env.SYNOD_CERT
  const certKeyFile = flags.certKey ?? env.SYNOD_CERT_KEY
  if ((certFile === undefined) !== (certKeyFile === undefined)) throw new ConfigError('--cert and --cert-key go together')
  if (certFile !== undefined && caFile === undefined) throw new ConfigError('a client certificate needs --ca (the cluster CA) to check the node')
  const tls =
    caFile === undefined
      ? undefined
      : { ca: readPem(caFile, 'CA certificate'), ...(certFile === undefined ? {} : { cert: readPem(certFile, 'certificate'), key: readPem(certKeyFile!, 'certificate key') }) }
  return {
    ...(signer === undefined ? {} : { signer }),
    cluster: flags.cluster ?? env.SYNOD_CLUSTER ?? '',
    ...(tls === undefined ? {} : { tls }),
  }
}
