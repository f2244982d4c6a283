// `synod ca init` and `synod cert server|client`.
import { clientIdOf } from '@synod/core'
import { defaultClientKeyPath } from '../auth/client-key.js'
import { readKeyFile } from '../init.js'
import { createCa, issueClientCert, issueServerCert } from './certificates.js'

type Flags = Record<string, string | boolean | undefined>
type Parse = (args: string[], spec: Record<string, { type: 'string' | 'boolean' }>) => { values: Flags; positionals: string[] }

export async function certificateCommand(
  command: 'ca' | 'cert',
  args: string[],
  out: NodeJS.WritableStream,
  parse: Parse,
  usage: (message: string) => Error,
): Promise<number> {
  const { values, positionals } = parse(args, {
    dir: { type: 'string' },
    name: { type: 'string' },
    force: { type: 'boolean' },
    ca: { type: 'string' },
    host: { type: 'string' },
    out: { type: 'string' },
    'client-key': { type: 'string' },
    days: { type: 'string' },
  })
  const [op] = positionals
  const days = values.days === undefined ? undefined : Number(values.days)
  if (days !== undefined && (!Number.isSafeInteger(days) || days < 1)) throw usage('--days must be a positive integer')
  if (command === 'ca') {
    if (op !== 'init' || values.dir === undefined) throw usage('usage: synod ca init --dir DIR [--name NAME] [--force]')
    const files = await createCa(values.dir as string, (values.name as string | undefined) ?? 'synod cluster CA', values.force === true)
    out.write(`CA certificate: ${files.cert}\nCA key:         ${files.key} (mode 0600; keep it offline)\n`)
    return 0
  }
  if (values.ca === undefined || values.out === undefined) throw usage(`usage: synod cert ${op ?? 'server|client'} --ca DIR --out PREFIX ...`)
  if (op === 'server') {
    const hosts = ((values.host as string | undefined) ?? '').split(',').filter((h) => h !== '')
    const files = await issueServerCert(values.ca as string, hosts, values.out as string, days)
    out.write(`certificate: ${files.cert}\nkey:         ${files.key} (mode 0600)\nin the node's config: "tls": { "cert": "${files.cert}", "key": "${files.key}", "ca": "<DIR>/ca.crt" }\n`)
    return 0
  }
  if (op === 'client') {
    const keyFile = (values['client-key'] as string | undefined) ?? defaultClientKeyPath()
    const keyPair = readKeyFile(keyFile)
    const files = await issueClientCert(values.ca as string, keyPair, values.out as string, days)
    out.write(`client id:   ${clientIdOf(keyPair.publicKey)}\ncertificate: ${files.cert}\nkey:         ${files.key} (mode 0600)\nuse: --ca <DIR>/ca.crt --cert ${files.cert} --cert-key ${files.key}\n`)
    return 0
  }
  throw usage('usage: synod cert server|client ...')
}
