#!/usr/bin/env node
// `synod`: the daemon and its client commands.
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ConfigError, SynodError } from '@synod/core'
import { peerIdFromPublicKey } from '@synod/transport-libp2p'
import { formatTable, runCluster } from './cluster.js'
import { clusterStatus, formatClusterStatus } from './cluster-status.js'
import { mergeConfig, readConfigFile, validateConfig, validateMember, type MemberConfig } from './config.js'
import { initClusterCommand, initCommand, readKeyFile } from './init.js'
import { validateNewMember } from './members.js'
import { type KvResponse, type SynodClient, SynodHttpError } from '@synod/client'
import { NodeSynodClient } from '@synod/client/node'
import type { TxnRequest } from './txn-body.js'
import { protocolNames } from './protocols.js'
import { createClientKey, defaultClientKeyPath, ensureClientKey, loadCredentials } from './auth/client-key.js'
import { signJoinRequest, type JoinProof } from './auth/join-proof.js'
import { clientIdOf } from '@synod/core'
import { createSigner } from '@synod/crypto'

const USAGE = `usage: synod <command> [options]

commands:
  --version                                      this CLI's version and the protocols it runs
  init     --data-dir DIR [--protocol NAME] [--listen MULTIADDR] [--http HOST:PORT] [--join ENDPOINT] [--force]
           [--admin CLIENT-ID|KEYFILE] [--cluster NAME] [--no-auth]
  init     --nodes N --out DIR [--hosts IP1,IP2,...] [--p2p-port 7001] [--http-port 8001] [--protocol NAME] [--admin ...] [--no-auth]
           a static cluster in one step: DIR/node1 … DIR/nodeN, each a key and a config listing every member
           (nodes that share a host get the base ports + 0, 1, 2, …; one node per host: the base ports on each)
           write a node key (mode 0600) and a config file (DIR/synod.json) with authentication on;
           the first admin: --admin, else your client key (~/.synod/client.key, created if absent);
           --join: a config for joining the running cluster at ENDPOINT, and DIR/join-request.json (then: members add)
  start    --config FILE [--protocol NAME] [--data-dir DIR] [--listen MULTIADDR,...] [--http HOST:PORT] [--log-level LEVEL]
           [--insecure-allow-unauthenticated]
           [--quota-backend-bytes N]
           run one node (every setting also as SYNOD_* environment variable)
  client   init [--client-key FILE] [--force]     a client identity (ed25519 key, mode 0600); prints its client id
  client   id [--client-key FILE]                 print the client id of a key file
  role     grant CLIENT-ID admin|readwrite|readonly [--prefix P] | revoke CLIENT-ID | list     (needs admin)
  ca       init --dir DIR [--name NAME] [--force] a cluster CA: DIR/ca.key (0600), DIR/ca.crt
  cert     server --ca DIR --host H[,H...] --out PREFIX      PREFIX.crt/.key for a node's HTTPS API
  cert     client --ca DIR [--client-key FILE] --out PREFIX  PREFIX.crt/.key certifying your client key
  cluster  [--protocol NAME] [--nodes N] [--duration SECONDS] [--smoke] [--load] [--data-dir DIR] [--keep] [--tls] [--no-auth]
           run a throwaway local cluster of real processes on 127.0.0.1 with a live status view;
           authentication on, your client key (created if absent) is its admin; --tls: a throwaway CA, HTTPS
  bench    [--protocol NAME] [--nodes N] [--clients N] [--ops N] [--value-bytes N] [--endpoint HOST:PORT,...] [--out DIR]
           write load against a throwaway local cluster (or --endpoint): ops/s, p50/p90/p99, DIR/latency.svg
           --compare-auth [--rounds N]: the cost of authentication — rotating rounds against a cluster with it off and one with it on (sessions, and a signature per request)
  kv       put KEY VALUE | get KEY [--stale] [--revision R] | del KEY | cas KEY EXPECTED|--absent VALUE | append KEY VALUE  [--verify --config FILE]
           | txn FILE|-  (a JSON transaction, as POST /v1/txn)
           | list [PREFIX] [--limit N] [--after KEY] [--keys-only | --count] [--stale] [--revision R]    keys in order, with values
           --revision R: as the keys were at revision R (etcdctl get --rev), back to the watch history's compaction
           | watch [PREFIX] [--from-revision R]   stream changes (resumes on another --endpoint A,B,C when one fails)
           put --lease ID: the key is deleted when the lease ends
  lease    grant TTL-SECONDS | keepalive ID [--every SECONDS] | revoke ID   [--endpoint HOST:PORT] [--json]
           [--endpoint HOST:PORT] [--json]
           --verify: check the reply certificate (byzantine protocols) of the request this command signed against the members' keys in a config you trust
  status   [--endpoint HOST:PORT] [--json] [--all]
           --all: one row per member (up/down, role, term, commit, applied, lag), like etcdctl endpoint status --cluster
  alarm    [list | disarm] [--endpoint HOST:PORT] [--json]
           disarm: clear the NOSPACE alarm (writes answer 507 past quotaBackendBytes) once data was deleted
  members  [list] [--endpoint HOST:PORT] [--json]
  members  add (--node-config FILE | --id PEERID --public-key HEX --addr MULTIADDR,... [--http HOST:PORT]) [--learner]
           add a member (Raft): it joins as a learner, catches up, then becomes a voter
  members  remove PEERID
           add also: --join-request FILE (written by init --join) instead of --node-config

client options (kv, status, members, role, alarm): --endpoint HOST:PORT (default SYNOD_ENDPOINT, else 127.0.0.1:8001),
  --client-key FILE (default ~/.synod/client.key or SYNOD_CLIENT_KEY, used when present), --cluster NAME (SYNOD_CLUSTER),
  --ca FILE (https; SYNOD_CA), --cert FILE --cert-key FILE; kv --verify --config FILE (default SYNOD_CONFIG)

protocols: ${protocolNames().join(', ')}
`

class UsageError extends Error {}

type Flags = Record<string, string | boolean | undefined>
type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string }>

function parse(args: string[], options: FlagSpec, allowPositionals = false): { values: Flags; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true })
    return { values: parsed.values as Flags, positionals: parsed.positionals }
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 0) throw new UsageError(`${flag} must be a non-negative integer, got '${value}'`)
  return Number(value)
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    out.write(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    out.write(`synod ${packageVersion()} (node ${process.version}; protocols: ${protocolNames().join(', ')})\n`)
    return 0
  }
  try {
    switch (command) {
      case 'init': {
        const { values } = parse(rest, {
          'data-dir': { type: 'string' },
          protocol: { type: 'string' },
          listen: { type: 'string' },
          http: { type: 'string' },
          force: { type: 'boolean' },
          join: { type: 'string' },
          admin: { type: 'string' },
          cluster: { type: 'string' },
          'no-auth': { type: 'boolean' },
          nodes: { type: 'string' },
          out: { type: 'string' },
          hosts: { type: 'string' },
          'p2p-port': { type: 'string' },
          'http-port': { type: 'string' },
          ...CREDENTIAL_FLAGS,
        })
        if (values.help) return help(out)
        if (values.nodes !== undefined) return await initCluster(values, out)
        if (values['data-dir'] === undefined) throw new UsageError('init needs --data-dir DIR')
        if (values.protocol !== undefined && !protocolNames().includes(values.protocol as string))
          throw new UsageError(`unknown protocol '${String(values.protocol)}' (available: ${protocolNames().join(', ')})`)
        const joining = values.join === undefined ? undefined : await clusterToJoin(values.join as string, values)
        const security = joining?.security ?? initSecurity(values, out)
        if (joining !== undefined && values.protocol !== undefined && values.protocol !== joining.protocol)
          throw new UsageError(`--protocol ${String(values.protocol)} does not match the cluster's protocol '${joining.protocol}'`)
        const result = await initCommand({
          ...(joining === undefined ? {} : { join: joining.members }),
          dataDir: values['data-dir'] as string,
          protocol: joining?.protocol ?? (values.protocol as string | undefined) ?? 'raft',
          listen: (values.listen as string | undefined) ?? '/ip4/127.0.0.1/tcp/7001',
          http: (values.http as string | undefined) ?? '127.0.0.1:8001',
          force: values.force === true,
          security,
        })
        out.write(`node id:    ${result.id}\npublic key: ${result.publicKey}\nkey file:   ${result.keyFile} (mode 0600)\nconfig:     ${result.configFile}\n`)
        if (joining === undefined) out.write('add the other members to "members" in the config, then: synod start --config <config>\n')
        else
          out.write(
            `join request: ${result.joinRequestFile}\n` +
              `start it (synod start --config ${result.configFile}), then an admin lets the cluster take it in:\n` +
              `  synod members add --node-config ${result.configFile} --endpoint ${String(values.join)}\n` +
              `  (or, from another machine: synod members add --join-request ${result.joinRequestFile} --endpoint ${String(values.join)})\n`,
          )
        return 0
      }
      case 'start': {
        const { values } = parse(rest, {
          config: { type: 'string' },
          protocol: { type: 'string' },
          'data-dir': { type: 'string' },
          'key-file': { type: 'string' },
          listen: { type: 'string' },
          http: { type: 'string' },
          'log-level': { type: 'string' },
          'insecure-allow-unauthenticated': { type: 'boolean' },
          'quota-backend-bytes': { type: 'string' },
        })
        if (values.help) return help(out)
        const configFile = (values.config as string | undefined) ?? process.env.SYNOD_CONFIG
        if (configFile === undefined) throw new UsageError('start needs --config FILE (or SYNOD_CONFIG)')
        const { raw, baseDir } = readConfigFile(configFile)
        const merged = mergeConfig(raw, process.env, {
          protocol: values.protocol,
          dataDir: values['data-dir'],
          keyFile: values['key-file'],
          listen: values.listen,
          http: values.http,
          logLevel: values['log-level'],
          insecureAllowUnauthenticated: values['insecure-allow-unauthenticated'] === true ? true : undefined,
          quotaBackendBytes: values['quota-backend-bytes'],
        })
        const config = validateConfig(merged, baseDir)
        const { runDaemon } = await import('./daemon.js')
        return await runDaemon(config)
      }
      case 'cluster': {
        const { values } = parse(rest, {
          protocol: { type: 'string' },
          nodes: { type: 'string' },
          duration: { type: 'string' },
          smoke: { type: 'boolean' },
          load: { type: 'boolean' },
          'data-dir': { type: 'string' },
          keep: { type: 'boolean' },
          'no-auth': { type: 'boolean' },
          tls: { type: 'boolean' },
        })
        if (values.help) return help(out)
        const protocol = (values.protocol as string | undefined) ?? 'raft'
        if (!protocolNames().includes(protocol))
          throw new UsageError(`unknown protocol '${protocol}' (available: ${protocolNames().join(', ')})`)
        const { faultModelOf } = await import('./protocols.js')
        const defaultNodes = (await faultModelOf(protocol)) === 'byzantine' ? 4 : 3
        const nodes = positiveInt(values.nodes as string | undefined, '--nodes', defaultNodes)
        if (nodes < 1 || nodes > 15) throw new UsageError('--nodes must be between 1 and 15')
        return await runCluster({
          protocol,
          nodes,
          ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] as string }),
          keep: values.keep === true,
          durationSeconds: positiveInt(values.duration as string | undefined, '--duration', 0),
          smoke: values.smoke === true,
          load: values.load === true,
          authentication: values['no-auth'] !== true,
          tls: values.tls === true,
          out,
        })
      }
      case 'bench': {
        const { values } = parse(rest, {
          protocol: { type: 'string' },
          nodes: { type: 'string' },
          clients: { type: 'string' },
          ops: { type: 'string' },
          'value-bytes': { type: 'string' },
          endpoint: { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean' },
          'compare-auth': { type: 'boolean' },
          rounds: { type: 'string' },
        })
        if (values.help) return help(out)
        const protocol = (values.protocol as string | undefined) ?? 'raft'
        if (!protocolNames().includes(protocol))
          throw new UsageError(`unknown protocol '${protocol}' (available: ${protocolNames().join(', ')})`)
        if (values['compare-auth'] === true && values.endpoint !== undefined) throw new UsageError('--compare-auth starts its own clusters; drop --endpoint')
        const { runBench } = await import('./bench-command.js')
        const { faultModelOf } = await import('./protocols.js')
        const endpoints = (values.endpoint as string | undefined)?.split(',').filter((e) => e !== '')
        return await runBench({
          protocol,
          nodes: positiveInt(values.nodes as string | undefined, '--nodes', (await faultModelOf(protocol)) === 'byzantine' ? 4 : 3),
          clients: Math.max(1, positiveInt(values.clients as string | undefined, '--clients', 32)),
          operations: Math.max(1, positiveInt(values.ops as string | undefined, '--ops', 2000)),
          valueBytes: positiveInt(values['value-bytes'] as string | undefined, '--value-bytes', 100),
          ...(endpoints === undefined ? {} : { endpoints }),
          ...(values.out === undefined ? {} : { outDir: values.out as string }),
          json: values.json === true,
          ...(values['compare-auth'] === true ? { compareAuth: { rounds: Math.max(1, positiveInt(values.rounds as string | undefined, '--rounds', 2)) } } : {}),
          out,
        })
      }
      case 'kv':
        return await kvCommand(rest, out)
      case 'client':
        return clientCommand(rest, out)
      case 'role':
        return await roleCommand(rest, out)
      case 'lease':
        return await leaseCommand(rest, out)
      case 'ca':
      case 'cert': {
        const { certificateCommand } = await import('./tls/command.js')
        return await certificateCommand(command, rest, out, (args, spec) => parse(args, spec, true), (m) => new UsageError(m))
      }
      case 'members':
        return await membersCommand(rest, out)
      case 'alarm':
        return await alarmCommand(rest, out)
      case 'status': {
        const { values } = parse(rest, { endpoint: { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' }, ...CREDENTIAL_FLAGS })
        if (values.help) return help(out)
        if (values.all === true) {
          // Every member's own status, 3 s each: a member that does not answer is a row saying so.
          const rows = await clusterStatus(endpoint(values.endpoint as string | undefined), (http) => apiClient({ ...values, endpoint: http }, 3000).status())
          out.write(values.json ? `${JSON.stringify(rows)}\n` : formatClusterStatus(rows))
          return rows.every((r) => r.up) ? 0 : 1
        }
        const client = apiClient(values)
        const status = await client.status()
        out.write(values.json ? `${JSON.stringify(status)}\n` : `${JSON.stringify(status, null, 2)}\n`)
        return 0
      }
      default:
        throw new UsageError(`unknown command '${command}'`)
    }
  } catch (error) {
    return report(error, out)
  }
}

function endpoint(flag: string | undefined): string {
  return flag ?? process.env.SYNOD_ENDPOINT ?? '127.0.0.1:8001'
}

/** Flags of every command that talks to a node's API: who the client is, and how to reach the node. */
const CREDENTIAL_FLAGS: FlagSpec = {
  'client-key': { type: 'string' },
  cluster: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  'cert-key': { type: 'string' },
}

function apiClient(values: Flags, timeoutMs = 10_000): SynodClient {
  const flag = (name: string) => values[name] as string | undefined
  const credentials = loadCredentials({
    ...(flag('client-key') === undefined ? {} : { clientKey: flag('client-key')! }),
    ...(flag('cluster') === undefined ? {} : { cluster: flag('cluster')! }),
    ...(flag('ca') === undefined ? {} : { ca: flag('ca')! }),
    ...(flag('cert') === undefined ? {} : { cert: flag('cert')! }),
    ...(flag('cert-key') === undefined ? {} : { certKey: flag('cert-key')! }),
  })
  // One request per command: a session would cost an extra round trip and save nothing; and `--verify` needs
  // the request's own signature (the envelope the certificate binds).
  return new NodeSynodClient(endpoint(flag('endpoint')), { timeoutMs, ...credentials, sessions: false })
}

/** `init --nodes N --out DIR`: every node's key and config of a static cluster, in DIR/node1 … DIR/nodeN. */
async function initCluster(values: Flags, out: NodeJS.WritableStream): Promise<number> {
  const n = positiveInt(values.nodes as string, '--nodes', 3)
  if (n < 1 || n > 99) throw new UsageError('--nodes must be between 1 and 99')
  if (values.out === undefined) throw new UsageError('init --nodes N needs --out DIR (node1 … nodeN are created in it)')
  for (const flag of ['data-dir', 'listen', 'http', 'join', 'force'])
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is for one node; with --nodes use --hosts, --p2p-port and --http-port`)
  const protocol = (values.protocol as string | undefined) ?? 'raft'
  if (!protocolNames().includes(protocol)) throw new UsageError(`unknown protocol '${protocol}' (available: ${protocolNames().join(', ')})`)
  const port = (flag: string, fallback: number) => {
    const value = positiveInt(values[flag] as string | undefined, `--${flag}`, fallback)
    if (value < 1 || value > 65_535) throw new UsageError(`--${flag} must be a port (1–65535)`)
    return value
  }
  const hosts = ((values.hosts as string | undefined) ?? '').split(',').filter((h) => h !== '')
  const security = initSecurity(values, out)
  const nodes = await initClusterCommand({ dir: values.out as string, nodes: n, protocol, hosts, p2pPort: port('p2p-port', 7001), httpPort: port('http-port', 8001), security })
  for (const line of formatTable(['node', 'id', 'libp2p', 'http', 'config'], nodes.map((node) => [node.name, node.id, node.listen, node.http, node.configFile]))) out.write(`${line}\n`)
  out.write(
    `\neach folder holds the node's key (0600) and a config listing all ${n} members (dataDir '.', so a folder can be copied to its machine).\n` +
      `start each: synod start --config <folder>/synod.json\n`,
  )
  return 0
}

/** `init`: authentication on, with a first admin (like etcd's root), unless --no-auth. */
function initSecurity(values: Flags, out: NodeJS.WritableStream): { authentication: boolean; admins: string[]; cluster: string } {
  const cluster = (values.cluster as string | undefined) ?? ''
  if (values['no-auth'] === true) {
    if (values.admin !== undefined) throw new UsageError('--admin and --no-auth exclude each other')
    return { authentication: false, admins: [], cluster }
  }
  const admin = values.admin as string | undefined
  if (admin !== undefined && /^[0-9a-f]{64}$/.test(admin)) return { authentication: true, admins: [admin], cluster }
  const file = admin ?? defaultClientKeyPath()
  const { keyPair, created } = admin === undefined ? ensureClientKey(file) : { keyPair: readKeyFile(file), created: false }
  const id = clientIdOf(keyPair.publicKey)
  out.write(`admin:      ${id} (${created ? 'new client key ' : 'client key '}${file})\n`)
  return { authentication: true, admins: [id], cluster }
}

function clientCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values, positionals } = parse(args, { 'client-key': { type: 'string' }, force: { type: 'boolean' } }, true)
  if (values.help) return help(out)
  const file = (values['client-key'] as string | undefined) ?? defaultClientKeyPath()
  const [op] = positionals
  if (op === 'init') {
    const { clientId } = createClientKey(file, values.force === true)
    out.write(`client id: ${clientId}\nkey file:  ${file} (mode 0600)\nask an admin: synod role grant ${clientId} readwrite\n`)
    return 0
  }
  if (op === 'id') {
    out.write(`${clientIdOf(readKeyFile(file).publicKey)}\n`)
    return 0
  }
  throw new UsageError(`usage: synod client init|id [--client-key FILE]`)
}

async function roleCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args, { endpoint: { type: 'string' }, json: { type: 'boolean' }, prefix: { type: 'string' }, ...CREDENTIAL_FLAGS }, true)
  if (values.help) return help(out)
  const client = apiClient(values)
  const [op = 'list', subject, role, ...extra] = positionals
  let answer: Record<string, unknown>
  switch (op) {
    case 'list':
      if (subject !== undefined) throw new UsageError('usage: synod role list')
      answer = await client.request('GET', '/v1/roles', undefined, {})
      break
    case 'grant':
      if (subject === undefined || role === undefined || extra.length > 0)
        throw new UsageError('usage: synod role grant CLIENT-ID admin|readwrite|readonly [--prefix P]')
      answer = await client.request('POST', '/v1/roles', { client: subject, role, ...(values.prefix === undefined ? {} : { prefix: values.prefix }) }, {})
      break
    case 'revoke':
      if (subject === undefined || role !== undefined) throw new UsageError('usage: synod role revoke CLIENT-ID')
      answer = await client.request('DELETE', `/v1/roles/${encodeURIComponent(subject)}`, undefined, {})
      break
    default:
      throw new UsageError(`unknown role operation '${op}' (grant, revoke, list)`)
  }
  if (values.json) out.write(`${JSON.stringify(answer)}\n`)
  else if (op === 'list') {
    const rows = ((answer.roles ?? []) as Array<{ client: string; role: string; prefix: string }>).map((r) => [r.client, r.role, r.prefix === '' ? '(all keys)' : r.prefix])
    for (const line of formatTable(['client', 'role', 'prefix'], rows)) out.write(`${line}\n`)
  } else out.write(op === 'revoke' && answer.applied === false ? 'no change: that client had no role\n' : `ok (index ${String(answer.index)})\n`)
  return 0
}

/** `synod alarm [list]` shows the raised alarms; `synod alarm disarm` clears NOSPACE once the data is under the quota. */
async function alarmCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args, { endpoint: { type: 'string' }, json: { type: 'boolean' }, ...CREDENTIAL_FLAGS }, true)
  if (values.help) return help(out)
  const client = apiClient(values)
  const [op = 'list', ...extra] = positionals
  if (extra.length > 0 || (op !== 'list' && op !== 'disarm')) throw new UsageError('usage: synod alarm [list | disarm] [--endpoint HOST:PORT]')
  const answer = op === 'disarm' ? await client.disarmAlarm() : await client.status()
  const alarms = (answer.alarms as string[] | undefined) ?? []
  if (values.json) out.write(`${JSON.stringify(op === 'disarm' ? answer : { alarms })}\n`)
  else if (op === 'disarm') out.write(answer.applied === true ? `disarmed (index ${String(answer.index)})\n` : 'no alarm was raised\n')
  else out.write(alarms.length === 0 ? 'no alarms\n' : `${alarms.join('\n')}\n`)
  return 0
}

async function kvCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      endpoint: { type: 'string' },
      json: { type: 'boolean' },
      stale: { type: 'boolean' },
      absent: { type: 'boolean' },
      verify: { type: 'boolean' },
      config: { type: 'string' },
      limit: { type: 'string' },
      after: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      'keys-only': { type: 'boolean' },
      count: { type: 'boolean' },
      lease: { type: 'string' },
      'from-revision': { type: 'string' },
      revision: { type: 'string' },
      ...CREDENTIAL_FLAGS,
    },
    true,
  )
  if (values.help) return help(out)
  const [op, key, ...params] = positionals
  if (op === 'watch') return await kvWatch(values, key ?? '', params, out)
  if (op === 'list' || op === 'ls') return await kvList(apiClient(values), key ?? '', params, values, out)
  if (op === 'txn') return await kvTxn(apiClient(values), key, params, values, out)
  const client = apiClient(values)
  const need = (n: number, form: string) => {
    if (key === undefined || params.length !== n) throw new UsageError(`usage: synod kv ${form}`)
  }
  let answer
  switch (op) {
    case 'put':
      need(1, 'put KEY VALUE [--lease ID]')
      answer = await client.put(key!, params[0]!, values.lease === undefined ? {} : { lease: positiveInt(values.lease as string, '--lease', 0) })
      break
    case 'get':
      need(0, 'get KEY [--stale] [--revision R] [--verify --config FILE]')
      if (values.verify && values.stale) throw new UsageError('--verify needs a linearizable read; drop --stale')
      if (values.revision !== undefined) {
        if (values.verify) throw new UsageError('--verify with --revision: use kv list KEY --start KEY --revision R --json (its certificate)')
        const revision = positiveInt(values.revision as string, '--revision', 0)
        if (revision === 0) throw new UsageError('--revision must be at least 1 (omit it for the current state)')
        answer = await getAtRevision(client, key!, revision, values.stale === true)
      } else answer = await client.get(key!, { consistency: values.stale ? 'stale' : 'linearizable' })
      break
    case 'del':
    case 'delete':
      need(0, 'del KEY')
      answer = await client.delete(key!)
      break
    case 'cas':
      if (values.absent) {
        need(1, 'cas KEY --absent NEW')
        answer = await client.cas(key!, null, params[0]!)
      } else {
        need(2, 'cas KEY EXPECTED NEW')
        answer = await client.cas(key!, params[0]!, params[1]!)
      }
      break
    case 'append':
      need(1, 'append KEY VALUE')
      answer = await client.append(key!, params[0]!)
      break
    default:
      throw new UsageError(`unknown kv operation '${op ?? ''}' (put, get, del, cas, append, list, txn)`)
  }
  if (values.verify) {
    const configFile = (values.config as string | undefined) ?? process.env.SYNOD_CONFIG
    if (configFile === undefined) throw new UsageError('--verify needs --config FILE listing the members and their public keys')
    const { raw, baseDir } = readConfigFile(configFile)
    const members = validateConfig(raw, baseDir).members
    const { certifiedValue, verifyAnswer, verifyGet } = await import('./verify.js')
    let signers: readonly string[]
    let value: string | null | undefined
    if (client.lastEnvelope !== undefined) {
      // The certificate must be for the request this command signed: an older or foreign one fails.
      const verified = verifyAnswer(client.lastEnvelope, answer, members)
      signers = verified.signers
      if (op === 'get') {
        value = certifiedValue(verified.result)
        if (value !== (answer.value ?? null)) throw new SynodError('NOT_VERIFIABLE', 'the node reported a value different from the certified result')
      } else if (!verified.result.ok) throw new SynodError('NOT_VERIFIABLE', `the certified result is a failure: ${verified.result.message}`)
    } else if (op === 'get') {
      const verified = verifyGet(key!, answer, members)
      ;({ signers, value } = verified)
    } else throw new UsageError('--verify on a write needs a signed request (a client key: synod client init)')
    if (values.json) out.write(`${JSON.stringify({ ...answer, verified: true, signers })}\n`)
    else
      out.write(
        `${op === 'get' ? (value ?? '(absent)') : 'ok'}\nverified: ${signers.length} replicas signed this result (${signers.map((s) => s.slice(-8)).join(', ')})${client.lastEnvelope === undefined ? ' — unsigned request: proves the value was an answer, not that it is fresh' : ''}\n`,
      )
    return 0
  }
  if (values.json) out.write(`${JSON.stringify(answer)}\n`)
  else if (op === 'get') out.write(answer.value === null || answer.value === undefined ? '(absent)\n' : `${answer.value}\n`)
  else if (op === 'cas') out.write(answer.applied ? `applied at index ${answer.index}\n` : `not applied; current value: ${JSON.stringify(answer.value ?? null)}\n`)
  else out.write(`ok (index ${answer.index})\n`)
  return op === 'cas' && answer.applied === false ? 1 : 0
}

/**
 * `synod kv watch PREFIX`: every change under PREFIX, one line each (`PUT key value (revision N)`), until
 * Ctrl-C. With several endpoints (--endpoint A,B,C) a broken stream resumes on the next one from the last
 * complete revision. Exits 1 when the history no longer holds --from-revision (COMPACTED).
 */
async function kvWatch(values: Flags, prefix: string, extra: string[], out: NodeJS.WritableStream): Promise<number> {
  if (extra.length > 0) throw new UsageError('usage: synod kv watch [PREFIX] [--from-revision R] [--endpoint A,B,C]')
  const from = values['from-revision'] === undefined ? undefined : positiveInt(values['from-revision'] as string, '--from-revision', 0)
  const client = apiClient(values) // its endpoints in order, and the credentials it loads
  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    let exit = 0
    await client.watch(prefix, {
      ...(from === undefined ? {} : { fromRevision: from }),
      signal: controller.signal,
      onEvents: (events) => {
        for (const e of events)
          out.write(values.json ? `${JSON.stringify(e)}\n` : `${e.type} ${e.key}${e.type === 'PUT' ? ` ${e.value ?? ''}` : ''} (revision ${e.revision})\n`)
      },
      onCompacted: (compactRevision, message) => {
        exit = 1
        out.write(values.json ? `${JSON.stringify({ error: 'COMPACTED', compactRevision, message })}\n` : `COMPACTED at revision ${compactRevision}: ${message}\n`)
      },
      onDisconnect: (at, error) => process.stderr.write(`watch: stream from ${at} broke (${error?.message ?? 'closed'}); resuming\n`),
    })
    return exit
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** `synod lease grant TTL | keepalive ID [--every S] | revoke ID`, like etcdctl lease. */
async function leaseCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(args, { endpoint: { type: 'string' }, json: { type: 'boolean' }, every: { type: 'string' }, ...CREDENTIAL_FLAGS }, true)
  if (values.help) return help(out)
  const client = apiClient(values)
  const [op, arg, ...extra] = positionals
  if (arg === undefined || extra.length > 0) throw new UsageError('usage: synod lease grant TTL-SECONDS | keepalive ID [--every SECONDS] | revoke ID')
  const n = positiveInt(arg, op === 'grant' ? 'TTL-SECONDS' : 'ID', 0)
  const print = (answer: object, text: string) => out.write(values.json ? `${JSON.stringify(answer)}\n` : `${text}\n`)
  switch (op) {
    case 'grant': {
      const answer = await client.leaseGrant(n)
      print(answer, `lease ${String(answer.id)} granted with TTL ${String(answer.ttlSeconds)}s`)
      return 0
    }
    case 'revoke': {
      const answer = await client.leaseRevoke(n)
      print(answer, `lease ${n} revoked; ${String(answer.deleted)} key(s) deleted`)
      return 0
    }
    case 'keepalive': {
      if (values.every === undefined) {
        const answer = await client.leaseKeepAlive(n)
        print(answer, `lease ${n} kept alive with TTL ${String(answer.ttlSeconds)}s`)
        return 0
      }
      // Keep alive until Ctrl-C (or the lease is gone: 404 LEASE_NOT_FOUND ends it with an error).
      const everyMs = positiveInt(values.every as string, '--every', 1) * 1000
      let running = true
      const stop = () => (running = false)
      process.once('SIGINT', stop)
      try {
        while (running) {
          const answer = await client.leaseKeepAlive(n)
          print(answer, `lease ${n} kept alive with TTL ${String(answer.ttlSeconds)}s`)
          await new Promise((resolve) => setTimeout(resolve, everyMs))
        }
      } finally {
        process.off('SIGINT', stop)
      }
      return 0
    }
    default:
      throw new UsageError(`unknown lease operation '${op ?? ''}' (grant, keepalive, revoke)`)
  }
}

/**
 * `synod kv txn FILE` (or `-` for stdin): a transaction written as POST /v1/txn's JSON body (like
 * `etcdctl txn`). Prints whether the success branch ran, then each operation's answer; exit 1 when the
 * comparisons failed, so scripts can branch on it.
 */
async function kvTxn(client: SynodClient, file: string | undefined, extra: string[], values: Flags, out: NodeJS.WritableStream): Promise<number> {
  if (file === undefined || extra.length > 0) throw new UsageError('usage: synod kv txn FILE|-   (JSON: {"compare": [...], "success": [...], "failure": [...]})')
  let request: unknown
  try {
    request = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'))
  } catch (error) {
    throw new UsageError(`synod kv txn: cannot read a JSON transaction from ${file === '-' ? 'stdin' : file}: ${(error as Error).message}`)
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) throw new UsageError('synod kv txn: the file must hold a JSON object')
  const answer = await client.txn(request as TxnRequest)
  if (values.json) out.write(`${JSON.stringify(answer)}\n`)
  else {
    out.write(`${answer.succeeded === true ? 'succeeded' : 'failed'} (revision ${String(answer.revision ?? answer.index)})\n`)
    for (const r of answer.results ?? []) out.write(`${JSON.stringify(r)}\n`)
  }
  return answer.succeeded === true ? 0 : 1
}

/**
 * `synod kv list PREFIX`: one page of keys with values (like `etcdctl get --prefix`), or only keys
 * (--keys-only), or how many (--count); paging with --limit and --after (the last key shown).
 */
async function kvList(client: SynodClient, prefix: string, extra: string[], values: Flags, out: NodeJS.WritableStream): Promise<number> {
  if (extra.length > 0)
    throw new UsageError('usage: synod kv list [PREFIX] [--start KEY] [--end KEY] [--limit N] [--after KEY] [--keys-only | --count] [--stale] [--revision R]')
  if (values.verify === true) throw new UsageError('--verify is for get and writes; a list is verified by its certificate in --json')
  const limit = values.limit === undefined ? undefined : positiveInt(values.limit as string, '--limit', 100)
  if (limit === 0) throw new UsageError('--limit must be at least 1')
  if (values['keys-only'] === true && values.count === true) throw new UsageError('--keys-only and --count exclude each other')
  const revision = values.revision === undefined ? undefined : positiveInt(values.revision as string, '--revision', 0)
  if (revision === 0) throw new UsageError('--revision must be at least 1 (omit it for the current state)')
  const answer = await client.list(prefix, {
    ...(values.after === undefined ? {} : { after: values.after as string }),
    ...(values.start === undefined ? {} : { start: values.start as string }),
    ...(values.end === undefined ? {} : { end: values.end as string }),
    limit: limit ?? 100,
    keysOnly: values['keys-only'] === true,
    countOnly: values.count === true,
    consistency: values.stale === true ? 'stale' : 'linearizable',
    ...(revision === undefined ? {} : { revision }),
  })
  if (values.json) {
    out.write(`${JSON.stringify(answer)}\n`)
    return 0
  }
  if (typeof answer.count === 'number') out.write(`${answer.count}\n`)
  else if (answer.keys !== undefined) for (const k of answer.keys) out.write(`${k}\n`)
  else for (const kv of answer.kvs ?? []) out.write(`${kv.key}\t${kv.value ?? ''}\n`)
  if (answer.more === true) {
    const keys = answer.keys ?? (answer.kvs ?? []).map((kv) => kv.key)
    out.write(`(more: synod kv list ${JSON.stringify(prefix)} --after ${JSON.stringify(keys[keys.length - 1] ?? '')})\n`)
  }
  return 0
}

/**
 * `synod kv get KEY --revision R`: the key as it was at revision R — a range read of exactly [KEY, KEY\0)
 * at that revision, answered like a get.
 */
async function getAtRevision(client: SynodClient, key: string, revision: number, stale: boolean): Promise<KvResponse> {
  const answer = await client.list('', { start: key, end: `${key}\u0000`, limit: 1, consistency: stale ? 'stale' : 'linearizable', revision })
  const found = answer.kvs?.[0]
  const base = { index: answer.index, ...(answer.revision === undefined ? {} : { revision: answer.revision }) }
  if (found === undefined) return { ...base, value: null }
  const revisions = found.modRevision === undefined ? {} : { createRevision: found.createRevision!, modRevision: found.modRevision, version: found.version! }
  return { ...base, value: found.value, ...revisions }
}

/** The protocol and members of a running cluster, for `init --join`. */
async function clusterToJoin(
  endpointFlag: string,
  values: Flags,
): Promise<{ protocol: string; members: MemberConfig[]; security: { authentication: boolean; admins: string[]; cluster: string } }> {
  const client = apiClient({ ...values, endpoint: endpointFlag })
  const status = await client.status()
  const listed = (await client.members()) as { voters?: unknown[]; learners?: unknown[] }
  const members = [...(listed.voters ?? []), ...(listed.learners ?? [])].map((m, i) => {
    const { id, publicKey, addrs, http } = m as Record<string, unknown>
    return validateMember(http === null ? { id, publicKey, addrs } : { id, publicKey, addrs, http }, `members[${i}]`)
  })
  if (typeof status.protocol !== 'string') throw new UsageError(`${endpointFlag} did not say which protocol it runs`)
  // Every member must start from the same policy: the cluster's initial admins, name and authentication setting.
  const admins = Array.isArray(status.initialAdmins) ? status.initialAdmins.map(String) : []
  const security = { authentication: status.authentication !== false, admins, cluster: typeof status.cluster === 'string' ? status.cluster : '' }
  return { protocol: status.protocol, members, security }
}

async function membersCommand(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      endpoint: { type: 'string' },
      json: { type: 'boolean' },
      'node-config': { type: 'string' },
      id: { type: 'string' },
      'public-key': { type: 'string' },
      addr: { type: 'string' },
      http: { type: 'string' },
      learner: { type: 'boolean' },
      'join-request': { type: 'string' },
      ...CREDENTIAL_FLAGS,
    },
    true,
  )
  if (values.help) return help(out)
  const [op = 'list', ...params] = positionals
  // Adding waits for the new member to catch up before promoting it.
  const client = apiClient(values, 120_000)
  let answer: Record<string, unknown>
  switch (op) {
    case 'list':
      if (params.length > 0) throw new UsageError('usage: synod members [list]')
      answer = await client.members()
      break
    case 'add': {
      if (params.length > 0) throw new UsageError('usage: synod members add (--node-config FILE | --id ID --public-key HEX --addr MULTIADDR,...) [--http HOST:PORT] [--learner]')
      const { member, proof } = memberFromFlags(values)
      out.write(`adding ${member.id}${values.learner ? ' as a learner' : ' (learner, then voter once caught up)'}…\n`)
      answer = await client.addMember(member, values.learner ? 'learner' : 'voter', proof)
      break
    }
    case 'remove':
      if (params.length !== 1) throw new UsageError('usage: synod members remove PEERID')
      answer = await client.removeMember(params[0]!)
      break
    default:
      throw new UsageError(`unknown members operation '${op}' (list, add, remove)`)
  }
  if (values.json) {
    out.write(`${JSON.stringify(answer)}\n`)
    return 0
  }
  if (op !== 'list') out.write(answer.changed === false ? 'no change: already a member\n' : `ok (membership changed at index ${String(answer.index)})\n`)
  const view = answer as { leader?: string | null; epoch?: number; voters?: Array<Record<string, unknown>>; learners?: Array<Record<string, unknown>> }
  const all = [...(view.voters ?? []).map((m) => ({ m, role: m.id === view.leader ? 'voter (leader)' : 'voter' })), ...(view.learners ?? []).map((m) => ({ m, role: 'learner' }))]
  // Each member's own /v1/status (3 s): is it up? (`synod status --all` shows the rest of each member's state.)
  const states = await Promise.all(
    all.map(({ m }) =>
      typeof m.http !== 'string'
        ? Promise.resolve('?')
        : apiClient({ ...values, endpoint: m.http }, 3000)
            .status()
            .then(
              () => 'up',
              () => 'down',
            ),
    ),
  )
  const rows = all.map(({ m, role }, i) => [String(m.id), role, states[i]!, String(m.http ?? '-'), (m.addrs as string[]).join(',')])
  out.write(`epoch ${String(view.epoch ?? '?')}\n`)
  for (const line of formatTable(['id', 'role', 'state', 'http', 'addrs'], rows)) out.write(`${line}\n`)
  return 0
}

function memberFromFlags(values: Flags): { member: MemberConfig; proof?: JoinProof } {
  if (values['join-request'] !== undefined) {
    for (const flag of ['id', 'public-key', 'addr', 'http', 'node-config'])
      if (values[flag] !== undefined) throw new UsageError(`--${flag} and --join-request exclude each other`)
    const { raw } = readConfigFile(values['join-request'] as string)
    const { proof, ...member } = raw as { proof?: JoinProof }
    return { member: validateNewMember(member, 'member'), ...(proof === undefined ? {} : { proof }) }
  }
  if (values['node-config'] !== undefined) {
    for (const flag of ['id', 'public-key', 'addr', 'http'])
      if (values[flag] !== undefined) throw new UsageError(`--${flag} and --node-config exclude each other`)
    const { raw, baseDir } = readConfigFile(values['node-config'] as string)
    const config = validateConfig(raw, baseDir)
    const keyPair = readKeyFile(config.keyFile)
    const self = peerIdFromPublicKey(keyPair.publicKey)
    const me = config.members.find((m) => m.id === self)
    if (me === undefined) throw new ConfigError(`the node's own entry (${self}) is missing from members`, 'members')
    // We hold the node's key here: sign its join request on the spot.
    return { member: me, proof: signJoinRequest(createSigner(keyPair.secretKey), me, config.cluster) }
  }
  if (values.id === undefined || values['public-key'] === undefined || values.addr === undefined)
    throw new UsageError('members add needs --node-config FILE, or --id, --public-key and --addr')
  const addrs = (values.addr as string).split(',').filter((a) => a !== '')
  const raw = { id: values.id, publicKey: values['public-key'], addrs, ...(values.http === undefined ? {} : { http: values.http }) }
  return { member: validateNewMember(raw, 'member') }
}

function help(out: NodeJS.WritableStream): number {
  out.write(USAGE)
  return 0
}

function report(error: unknown, out: NodeJS.WritableStream): number {
  const err = process.stderr
  if (error instanceof UsageError) {
    err.write(`synod: ${error.message}\n\n${USAGE}`)
    return 2
  }
  if (error instanceof ConfigError) {
    err.write(`synod: configuration error: ${error.message}\n`)
    return 2
  }
  if (error instanceof SynodHttpError) {
    err.write(`synod: ${error.message}\n`)
    if (typeof error.body.leaderHint === 'string') err.write(`leader hint: ${error.body.leaderHint}\n`)
    return 1
  }
  if (error instanceof SynodError) {
    err.write(`synod: ${error.message}\n`)
    return 1
  }
  const errno = error as NodeJS.ErrnoException & { address?: string; port?: number }
  if (errno.code === 'ECONNREFUSED' || errno.code === 'EHOSTUNREACH' || errno.code === 'ENOTFOUND') {
    // Name the address tried: the default endpoint or SYNOD_ENDPOINT may not be what the user thinks.
    const at = errno.address === undefined ? '' : ` at ${errno.address}${errno.port === undefined ? '' : `:${errno.port}`}`
    const why = errno.code === 'ECONNREFUSED' ? 'connection refused' : errno.code === 'ENOTFOUND' ? 'unknown host' : 'host unreachable'
    err.write(`synod: cannot reach the node${at} (${why}); is it running? check --endpoint (or SYNOD_ENDPOINT; default 127.0.0.1:8001)\n`)
    return 1
  }
  err.write(`synod: ${(error as Error).message ?? String(error)}\n`)
  void out
  return 1
}

function invokedDirectly(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

if (invokedDirectly()) {
  // Exit explicitly with main's code: idle keep-alive sockets and stray handles must not decide it.
  process.exit(await main(process.argv.slice(2)))
}

/** This CLI's version: the `version` of @synod/node's package.json (next to src/ and dist/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
