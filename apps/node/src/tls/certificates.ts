// `synod ca` and `synod cert`: a cluster CA and the certificates it issues,
// all ed25519, built with @peculiar/x509 over node:crypto's WebCrypto (no
// hand-written ASN.1). A client certificate certifies the client's own
// ed25519 key (the one `synod client init` wrote), so a TLS client and a
// signing client are one identity: the hex of that key.
import 'reflect-metadata' // @peculiar/x509's dependency injection needs it loaded first
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'
import { clientIdOf, ConfigError } from '@synod/core'
import type { KeyPair } from '@synod/crypto'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const ED25519 = { name: 'Ed25519' }
const DAY = 86_400_000

export const CA_CERT = 'ca.crt'
export const CA_KEY = 'ca.key'

function writeSecret(file: string, text: string): void {
  writeFileSync(file, text, { mode: 0o600 })
  chmodSync(file, 0o600)
}

function serial(): string {
  // Positive 16-byte serial (RFC 5280 §4.1.2.2: ≤ 20 octets, unique per CA).
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return bytes.toString('hex')
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')

/** An ed25519 key pair (our KeyPair format) as a PKCS#8 PEM private key, via node:crypto's JWK import. */
export function privateKeyPem(keyPair: KeyPair): string {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(keyPair.secretKey), x: b64url(keyPair.publicKey) }, format: 'jwk' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString()
}

async function publicCryptoKey(publicKey: Uint8Array): Promise<CryptoKey> {
  return (await webcrypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, ED25519, true, ['verify'])) as CryptoKey
}

/** Create a cluster CA in `dir`: ca.key (mode 0600) and ca.crt. */
export async function createCa(dir: string, name = 'synod cluster CA', force = false): Promise<{ cert: string; key: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const certFile = join(dir, CA_CERT)
  const keyFile = join(dir, CA_KEY)
  if (existsSync(keyFile) && !force) throw new ConfigError(`${keyFile} already exists; refusing to replace the cluster CA (use --force)`)
  const keys = (await webcrypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  const now = Date.now()
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name.replace(/[,=+<>#;"\\]/g, ' ')}`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 3650 * DAY),
    keys,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  writeSecret(keyFile, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'))
  writeFileSync(certFile, ca.toString('pem'))
  return { cert: certFile, key: keyFile }
}

async function loadCa(dir: string): Promise<{ cert: x509.X509Certificate; key: CryptoKey }> {
  let certPem: string
  let keyPem: string
  try {
    certPem = readFileSync(join(dir, CA_CERT), 'utf8')
    keyPem = readFileSync(join(dir, CA_KEY), 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read the CA in ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)}); run synod ca init --dir ${dir}`)
  }
  const key = (await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ED25519, false, ['sign'])) as CryptoKey
  return { cert: new x509.X509Certificate(certPem), key }
}

async function issue(
  caDir: string,
  subject: string,
  publicKey: CryptoKey,
  usage: string,
  names: x509.JsonGeneralName[],
  days: number,
): Promise<string> {
  const ca = await loadCa(caDir)
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${subject.replace(/[,=+<>#;"\\]/g, ' ')}`,
    issuer: ca.cert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + days * DAY),
    signingKey: ca.key,
    publicKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      ...(names.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(names)]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  })
  return cert.toString('pem')
}

/** A server certificate for a node's HTTP API, valid for `hosts` (IP addresses and DNS names); writes <out>.crt and <out>.key. */
export async function issueServerCert(caDir: string, hosts: readonly string[], out: string, days = 825): Promise<{ cert: string; key: string }> {
  if (hosts.length === 0) throw new ConfigError('a server certificate needs --host NAME[,NAME…] (the addresses clients connect to)')
  const keys = (await webcrypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  const names = hosts.map((h): x509.JsonGeneralName => (isIP(h) === 0 ? { type: 'dns', value: h } : { type: 'ip', value: h }))
  const pem = await issue(caDir, hosts[0]!, keys.publicKey, x509.ExtendedKeyUsage.serverAuth, names, days)
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  writeFileSync(`${out}.crt`, pem)
  writeSecret(`${out}.key`, x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'))
  return { cert: `${out}.crt`, key: `${out}.key` }
}

/**
 * A client certificate for the client's own key: writes <out>.crt and
 * <out>-key.pem (the same ed25519 key as PKCS#8 PEM, for TLS libraries and
 * curl; a different name from the client key file, which it must not replace).
 */
export async function issueClientCert(caDir: string, client: KeyPair, out: string, days = 365): Promise<{ cert: string; key: string; clientId: string }> {
  const clientId = clientIdOf(client.publicKey)
  const pem = await issue(caDir, `synod client ${clientId.slice(0, 16)}`, await publicCryptoKey(client.publicKey), x509.ExtendedKeyUsage.clientAuth, [], days)
  writeFileSync(`${out}.crt`, pem)
  writeSecret(`${out}-key.pem`, privateKeyPem(client))
  return { cert: `${out}.crt`, key: `${out}-key.pem`, clientId }
}
