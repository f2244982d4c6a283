// `synod start`: one node — durable storage, libp2p transport, the chosen
// protocol, the KV state machine and the HTTP client API.
import { join } from 'node:path'
import type { Server } from 'node:http'
import pino, { type Logger } from 'pino'
import {
  ConfigError,
  fromHex,
  membership,
  type Membership,
  type MembershipChange,
  NotLeaderError,
  Replica,
  systemClock,
  systemRandom,
  SynodError,
  TimeoutError,
  toHex,
  UnsupportedError,
  type CommandResult,
  encodeSignedClientRequest,
  signClientRequest,
  type Signer,
} from '@synod/core'
import { createSigner, createVerifier } from '@synod/crypto'
import { KvStateMachine, kvCommands } from '@synod/kv'
import { openDurableStorage } from '@synod/storage/node'
import { createLibp2pTransport, peerIdFromPublicKey } from '@synod/transport-libp2p'
import type { MemberConfig, NodeConfig } from './config.js'
import { parseHostPort } from './config.js'
import {
  createHttpApi,
  HttpError,
  listen,
  type KvAnswer,
  type KvService,
  type MemberRole,
  type RequestContext,
  type WriteOptions,
} from './http-api.js'
import { readKeyFile } from './init.js'
import { apiSecurity, checkExposure, readTls } from './auth/setup.js'
import type { Principal } from './auth/guard.js'
import { type ForwardingAuth, ForwardingClient } from './forwarding-client.js'
import { MemberMacKeys } from './auth/member-mac.js'
import { type SynodClient, SynodHttpError } from '@synod/client'
import { type ListParams, listOperation } from './auth/operations.js'
import { kvRequests, toAnswer } from './kv-commands.js'
import { NodeMetrics } from './metrics.js'
import type { TxnBody, TxnRequest } from './txn-body.js'
import { describeMembership, toProtocolMember } from './members.js'
import { daemonProtocolOptions, loadProtocol } from './protocols.js'
import { ackBeforeFsync, activeDebugSwitches, readDebugSwitches, tentativeCas, UNSAFE_SKIP_REPLY_CERTIFICATES } from './debug-switches.js'
import { QuorumWatch } from './quorum.js'
import { FAULT_CONTROL, openFaultControl, skewedClock, stallingStorage } from './fault-hooks.js'
import { WatchHub, type WatchParams } from './watch.js'
import { LeaseClock } from './lease-clock.js'
import type { IncomingMessage, ServerResponse } from 'node:http'

/** Watch streams one node serves at once (429 TOO_MANY_WATCHERS beyond). */
const MAX_WATCHERS = 1000

export interface RunningNode {
  readonly id: string
  readonly replica: Replica
  readonly httpAddress: string
  readonly logger: Logger
  stop(): Promise<void>
}

function createLogger(config: NodeConfig): Logger {
  const pretty = process.env.SYNOD_LOG_PRETTY !== '0' && process.stdout.isTTY === true
  if (pretty) {
    return pino({ level: config.logLevel, transport: { target: 'pino-pretty', options: { colorize: true } } })
  }
  return pino({ level: config.logLevel })
}

/** Start a node and return a handle; the caller decides when to stop it. */
export async function startNode(config: NodeConfig, logger = createLogger(config)): Promise<RunningNode> {
  const keyPair = readKeyFile(config.keyFile)
  const self = peerIdFromPublicKey(keyPair.publicKey)
  const me = config.members.find((m) => m.id === self)
  if (me === undefined) throw new ConfigError(`this node (${self}) is not listed in members; add it`, 'members')
  for (const m of config.members) {
    if (peerIdFromPublicKey(fromHex(m.publicKey)) !== m.id)
      throw new ConfigError(`publicKey does not match id ${m.id}`, `members[${config.members.indexOf(m)}].publicKey`)
  }
  if (config.join && config.members.length < 2)
    throw new ConfigError('a joining node must list the members of the cluster it joins', 'members')
  const factory = await loadProtocol(config.protocol)
  const log = logger.child({ node: self.slice(-8), protocol: factory.name })
  const stopWarning = checkExposure(config, log) // before anything is opened: an exposed unauthenticated API is refused
  const tls = readTls(config)
  // Metrics are made after the Replica (they read it): leaders elected before then are counted on creation;
  // the syncs of recovery and start-up are not timed.
  const early: { metrics?: NodeMetrics } = {}
  const durable = await openDurableStorage(join(config.dataDir, 'state'), { onSync: (sync) => early.metrics?.synced(sync) })
  // Test-only planted bugs (debug-switches.ts): off unless their environment variable is set.
  const debug = readDebugSwitches()
  for (const name of activeDebugSwitches(debug)) log.warn({ switch: name }, 'UNSAFE TEST-ONLY DEBUG SWITCH IS ON: this node may lose or misreport data')
  const acked = debug.ackBeforeFsyncMs === undefined ? durable : ackBeforeFsync(durable, debug.ackBeforeFsyncMs)
  // Test-only fault hooks (fault-hooks.ts, clock skew and fsync stalls): they exist only when the runner set their variable.
  const faults = openFaultControl()
  if (faults !== undefined) log.warn({ switch: FAULT_CONTROL, file: faults.path }, 'TEST-ONLY FAULT HOOKS ARE ON: this node\'s clock and fsync obey the control file')
  const storage = faults === undefined ? acked : stallingStorage(acked, faults)
  const transport = createLibp2pTransport({
    keyPair,
    listen: [...config.listen],
    peers: config.members.filter((m) => m.id !== self).map((m) => ({ id: m.id, addrs: [...m.addrs] })),
    protocol: factory.name,
  })
  const byzantine = factory.faultModel === 'byzantine'
  if (debug.skipReplyCertificates && !byzantine) log.warn({ switch: UNSAFE_SKIP_REPLY_CERTIFICATES }, 'this debug switch only acts on byzantine protocols; ignored')
  const configured = config.members.map(toProtocolMember)
  const initialMembership = config.join
    ? membership(
        configured.filter((m) => m.id !== self),
        configured.filter((m) => m.id === self),
      )
    : membership(configured)
  const httpByMember = new Map<string, string>()
  // Follow the membership the protocol agreed on: who may connect, whom to dial, where to forward.
  const applyMembership = (current: Membership) => {
    const view = describeMembership(current, config.members)
    // While joint, the outgoing voters still vote: keep admitting and dialing them until C(new).
    const everyone = [...view.voters, ...view.learners]
    for (const o of view.outgoing ?? []) if (!everyone.some((m) => m.id === o.id)) everyone.push(o)
    transport.setPeers(everyone.filter((m) => m.id !== self).map((m) => ({ id: m.id, addrs: [...m.addrs] })))
    httpByMember.clear()
    for (const m of everyone) if (m.http !== null) httpByMember.set(m.id, m.http)
  }
  // A byzantine protocol with authentication on executes only client-signed requests, verified by every
  // replica (ADR 0006): no member can act in a client's name.
  const signedClients = byzantine && config.authentication
  const kv = new KvStateMachine({
    initialAdmins: config.admins,
    maxKeyBytes: config.maxKeyBytes,
    maxValueBytes: config.maxValueBytes,
    quotaBytes: config.quotaBackendBytes,
    maxSessions: config.maxSessions,
    maxSessionsPerClient: config.maxSessionsPerClient,
    historyEvents: config.historyEvents,
    historyBytes: config.historyBytes,
    maxLeases: config.maxLeases,
    // Crash-fault: the daemon vouches for the clients it authenticated (session MAC, TLS) with their own sessions.
    vouchedSessions: !byzantine,
    // There only signed requests are ordered: members sign their lease-expiry votes with their node keys, and
    // f + 1 of them end a lease (ADR 0022). PBFT's membership is fixed by the config, the same on every node.
    ...(signedClients ? { leaseExpiryVoters: config.members.map((m) => m.publicKey.toLowerCase()) } : {}),
  })
  const protocolOptions: Record<string, unknown> = {
    ...daemonProtocolOptions(factory.name, config.protocolOptions),
    ...(signedClients ? { clientAuthentication: 'signed', cluster: config.cluster } : {}),
    // Planted bug SYNOD_DEBUG_UNSAFE_DISABLE_DEFENCES (test-only): the protocol's own switches.
    ...(debug.disableDefences.length > 0 ? { unsafeDisableDefences: debug.disableDefences } : {}),
  }
  let leadersBeforeMetrics = 0
  // Byzantine protocols verify every client signature in every replica; the API guard checks the same
  // statement at the edge first, so both use this one verifier and the protocol's check here is a cache hit.
  const verifier = byzantine ? createVerifier() : undefined
  const replica = new Replica({
    factory,
    protocolOptions,
    self,
    membership: initialMembership,
    transport,
    storage,
    clock: faults === undefined ? systemClock() : skewedClock(systemClock(), () => faults.state),
    random: systemRandom(),
    stateMachine: kv,
    ...(verifier !== undefined ? { signer: createSigner(keyPair.secretKey), verifier } : {}),
    requestTimeoutMs: config.requestTimeoutMs,
    maxPendingRequests: config.maxPendingRequests,
    onError: (error) => log.error({ err: error }, 'replica error'),
    onEvent: (event) => {
      if (event.type === 'leader') {
        log.info({ leader: event.leader, term: event.term }, 'leader elected')
        if (early.metrics === undefined) leadersBeforeMetrics++
        else early.metrics.leaderElected()
      }
      // Rare, and the first thing an operator asks after an election (etcd logs its own at info too).
      else if (event.type === 'role') log.info({ role: event.role, term: event.term }, 'role change')
      else if (event.type === 'membership') {
        log.info(
          {
            epoch: event.membership.epoch,
            voters: event.membership.voters.map((m) => m.id),
            learners: event.membership.learners.map((m) => m.id),
            ...(event.membership.outgoing === undefined ? {} : { outgoing: event.membership.outgoing.map((m) => m.id) }),
          },
          'membership',
        )
        try {
          applyMembership(event.membership)
        } catch (error) {
          log.error({ err: error }, 'cannot follow the new membership')
        }
      }
    },
  })
  applyMembership(initialMembership)
  await replica.start()
  const metrics = new NodeMetrics(replica, kv, transport)
  if (verifier !== undefined) metrics.verifierStats = verifier.cacheStats
  early.metrics = metrics
  for (; leadersBeforeMetrics > 0; leadersBeforeMetrics--) metrics.leaderElected()
  // A voter in an election asks for votes every election timeout; four of them without a word means it is gone.
  const electionTimeoutMs = Number(protocolOptions['electionTimeoutMs'] ?? 0) || 0
  const quorum = new QuorumWatch(replica, transport, byzantine, Math.max(2000, 4 * electionTimeoutMs))
  const memberMacs = new MemberMacKeys(keyPair.secretKey)
  const forwarding: ForwardingAuth = { macs: memberMacs, cluster: config.cluster, ...(tls === undefined ? {} : { ca: tls.ca }) }
  const watches = new WatchHub(kv, { maxWatchers: MAX_WATCHERS })
  metrics.watcherCount = () => watches.size
  // Only the leader proposes expiries; a new leader first adds an election timeout to every remaining TTL.
  const leaseClock = new LeaseClock(replica, kv, {
    // Raft draws its timeout from [T, 2T): cover the longest election.
    electionTimeoutMs: 2 * Math.max(electionTimeoutMs, 1000),
    onError: (error) => log.debug({ err: error }, 'lease expiry proposal failed; retried on the next tick'),
    ...(signedClients ? { vote: leaseExpiryVote(createSigner(keyPair.secretKey), config.cluster) } : {}),
  })
  const service = new ReplicatedKv(
    replica,
    httpByMember,
    metrics,
    config,
    kv,
    quorum,
    config.authentication ? forwarding : undefined,
    signedClients,
    debug.localReads,
    watches,
    byzantine && debug.skipReplyCertificates,
    debug.rawForwardErrors,
  )
  const server = createHttpApi(service, {
    maxKeyBytes: config.maxKeyBytes,
    maxValueBytes: config.maxValueBytes,
    onServerError: (error, path) => log.error({ err: error, path }, 'request failed'),
    onRequestDone: (route, method, status, seconds) => metrics.requestDone(route, method, status, seconds),
    // Crash-fault protocols: each signed request is new and checked only here, so a verdict cache would only
    // cost a hash per request. Byzantine ones: the protocol's verifier (see above).
    ...apiSecurity(config, replica, kv, verifier ?? createVerifier({ cacheSize: 0 }), memberMacs, byzantine),
    ...(tls === undefined ? {} : { tls }),
    onClientGone: (path) => log.debug({ path }, 'client disconnected before the answer'),
  })
  const { host, port } = parseHostPort(config.http, 'http')
  const address = await listen(server, host, port)
  const httpAddress = `${address.address}:${address.port}`
  log.info({ id: self, http: httpAddress, listen: transport.listenAddrs(), dataDir: config.dataDir }, 'node started')
  let stopped = false
  return {
    id: self,
    replica,
    httpAddress,
    logger: log,
    async stop() {
      if (stopped) return
      stopped = true
      stopWarning?.()
      log.info('stopping: no new requests, finishing in-flight ones, syncing storage')
      service.closing = true
      leaseClock.stop()
      watches.closeAll()
      await closeServer(server)
      // A leader that leaves gracefully hands over first, so the others need not wait an election timeout.
      const handedOver = await service.handOverLeadership().catch((error: unknown) => {
        log.warn({ err: error }, 'leadership transfer before stopping failed')
        return false
      })
      if (handedOver) log.info({ leader: replica.status().leader }, 'handed leadership over before stopping')
      await replica.stop()
      quorum.stop()
      await storage.close()
      faults?.stop()
      log.info('stopped')
    },
  }
}

/**
 * This member's signed request to expire a lease (ADR 0022): an envelope signed with the node key, in one
 * session of its own, timestamps strictly increasing (PBFT and the KV session table drop older ones).
 */
function leaseExpiryVote(signer: Signer, cluster: string): (id: number, renewed: number) => Uint8Array {
  let last = 0
  return (id, renewed) => {
    last = Math.max(Date.now(), last + 1)
    return encodeSignedClientRequest(signClientRequest(signer, { session: LEASE_VOTE_SESSION, timestamp: last, operation: kvCommands.leaseExpire(id, renewed) }, cluster))
  }
}

/** The client session a member's lease-expiry votes use (one at a time). */
const LEASE_VOTE_SESSION = 0xfffe

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
    setTimeout(() => server.closeAllConnections(), 5000).unref()
  })
}

/** Run until SIGTERM/SIGINT; returns the exit code. */
export async function runDaemon(config: NodeConfig): Promise<number> {
  const logger = createLogger(config)
  let node: RunningNode
  try {
    node = await startNode(config, logger)
  } catch (error) {
    // Typed errors (bad config, locked data dir, corrupt storage) are reported by the CLI in plain words;
    // anything unexpected is logged for operators too.
    if (!(error instanceof SynodError)) logger.fatal({ err: error }, (error as Error).message)
    throw error
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      node.logger.info({ signal }, 'shutting down')
      resolve()
    }
    process.once('SIGTERM', onSignal)
    process.once('SIGINT', onSignal)
  })
  await node.stop()
  return 0
}

/** The KV service behind the HTTP API: proposes through the replica, forwards to the leader when it is elsewhere. */
class ReplicatedKv implements KvService {
  closing = false
  constructor(
    private readonly replica: Replica,
    private readonly httpByMember: ReadonlyMap<string, string>,
    private readonly nodeMetrics: NodeMetrics,
    private readonly config: NodeConfig,
    private readonly kv: KvStateMachine,
    private readonly quorum: QuorumWatch,
    /** With authentication on: how this node vouches (member MAC) for what it forwards for a client. */
    private readonly forwarding?: ForwardingAuth,
    /** Byzantine protocol with authentication on: only client-signed envelopes are proposed (and verified by every replica). */
    private readonly signedClients = false,
    /** Planted bug SYNOD_DEBUG_UNSAFE_LOCAL_READS (test-only): linearizable reads answered from local state. */
    private readonly unsafeLocalReads = false,
    private readonly watches?: WatchHub,
    /** Planted bug SYNOD_DEBUG_UNSAFE_SKIP_REPLY_CERTIFICATES (test-only, byzantine): answers from the local tentative execution. */
    private readonly unsafeSkipCertificates = false,
    /** Planted bug SYNOD_DEBUG_UNSAFE_RAW_FORWARD_ERRORS (test-only): a failed forward answers its raw error (500). */
    private readonly unsafeRawForwardErrors = false,
  ) {}

  watch(req: IncomingMessage, res: ServerResponse, params: WatchParams): Promise<void> {
    if (this.watches === undefined) throw new HttpError(404, 'NOT_FOUND', 'this node does not serve watches')
    return this.watches.serve(req, res, params)
  }

  async leaseGrant(ttlSeconds: number, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvCommands.leaseGrant(ttlSeconds, options.session), options, (c) => c.leaseGrant(ttlSeconds))
  }

  async leaseKeepAlive(id: number, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvCommands.leaseKeepAlive(id, options.session), options, (c) => c.leaseKeepAlive(id))
  }

  async leaseRevoke(id: number, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvCommands.leaseRevoke(id, options.session), options, (c) => c.leaseRevoke(id))
  }

  async putWithLease(key: string, value: string, lease: number, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvCommands.put(key, value, options.session, lease), options, (c) => c.put(key, value, lease === undefined ? {} : { lease }))
  }

  async put(key: string, value: string, options: WriteOptions): Promise<KvAnswer> {
    if (this.unsafeSkipCertificates) return this.tentative(kvRequests.put(key, value, options.session), key, (local) => ({ index: local.index }))
    return this.write(kvRequests.put(key, value, options.session), options, (c) => c.put(key, value))
  }

  async delete(key: string, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvRequests.delete(key, options.session), options, (c) => c.delete(key))
  }

  async cas(key: string, expected: string | null, value: string, options: WriteOptions): Promise<KvAnswer> {
    if (this.unsafeSkipCertificates) return this.tentative(kvRequests.cas(key, expected, value, options.session), key, (local) => tentativeCas(expected, local.value ?? null, local.index))
    return this.write(kvRequests.cas(key, expected, value, options.session), options, (c) => c.cas(key, expected, value))
  }

  async append(key: string, value: string, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvRequests.append(key, value, options.session), options, (c) => c.append(key, value))
  }

  async txn(txn: TxnBody, request: TxnRequest, options: WriteOptions): Promise<KvAnswer> {
    // A follower forwards the client's own JSON: the leader parses it to the same command.
    return this.write(kvCommands.txn(txn.compare, txn.success, txn.failure, options.session), options, (c) => c.txn(request))
  }

  async get(key: string, consistency: 'linearizable' | 'stale', forwarded: boolean, caller?: Principal): Promise<KvAnswer> {
    const request = kvRequests.get(key)
    if (consistency === 'stale' || this.unsafeLocalReads || this.unsafeSkipCertificates) return toAnswer(this.replica.readLocal(request))
    try {
      // Byzantine: read the client's own envelope, so the reply certificate binds this request (never a stale answer).
      if (this.signedClients) return toAnswer(await this.replica.read(this.envelopeOf(caller)))
      return toAnswer(await this.replica.read(request))
    } catch (error) {
      return this.forwardOrThrow(error, forwarded, (c) => c.get(key), { session: undefined, forwarded, ...(caller === undefined ? {} : { caller }) })
    }
  }

  async list(params: ListParams, forwarded: boolean, caller?: Principal): Promise<KvAnswer> {
    const request = listOperation(params)
    if (params.consistency === 'stale') return toAnswer(this.replica.readLocal(request))
    try {
      // Byzantine: the client's own envelope (its signature covers the list command), as for get.
      if (this.signedClients) return toAnswer(await this.replica.read(this.envelopeOf(caller)))
      return toAnswer(await this.replica.read(request))
    } catch (error) {
      // The whole query (range, revision) as the client sent it; the leader signs nothing new for it.
      const forward = (c: SynodClient) =>
        c.list(params.prefix, {
          ...(params.after === undefined ? {} : { after: params.after }),
          ...(params.start === undefined ? {} : { start: params.start }),
          ...(params.end === undefined ? {} : { end: params.end }),
          ...(params.revision === undefined ? {} : { revision: params.revision }),
          limit: params.limit,
          keysOnly: params.mode === 'keys',
          countOnly: params.mode === 'count',
          consistency: params.consistency,
        })
      return this.forwardOrThrow(error, forwarded, forward, { session: undefined, forwarded, ...(caller === undefined ? {} : { caller }) })
    }
  }

  async roles(context: RequestContext): Promise<Record<string, unknown>> {
    let answer: KvAnswer
    try {
      answer = toAnswer(await this.replica.read(kvRequests.roleList()))
    } catch (error) {
      answer = await this.forwardOrThrow(error, context.forwarded, (c) => c.request('GET', '/v1/roles', undefined, {}), { session: undefined, ...context })
    }
    return { ...answer }
  }

  async grantRole(subject: string, role: string, prefix: string | undefined, options: WriteOptions): Promise<KvAnswer> {
    const body = { client: subject, role, ...(prefix === undefined ? {} : { prefix }) }
    return this.write(kvRequests.roleGrant(subject, role, prefix, options.session), options, (c) => c.request('POST', '/v1/roles', body, {}))
  }

  async revokeRole(subject: string, options: WriteOptions): Promise<KvAnswer> {
    return this.write(kvRequests.roleRevoke(subject, options.session), options, (c) => c.request('DELETE', `/v1/roles/${subject}`, undefined, {}))
  }

  status(): Record<string, unknown> {
    const s = this.replica.status()
    return {
      id: s.id,
      protocol: this.config.protocol,
      // What a joining node must copy to enforce the same policy (synod init --join).
      cluster: this.config.cluster,
      authentication: this.config.authentication,
      initialAdmins: this.config.admins,
      role: s.role,
      term: s.term,
      leader: s.leader ?? null,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      lastIndex: s.lastIndex,
      members: s.membership.voters.map((m) => ({ id: m.id, publicKey: toHex(m.publicKey), http: this.httpByMember.get(m.id) ?? null })),
      learners: s.membership.learners.map((m) => m.id),
      counters: s.counters,
      alarms: this.alarms(),
      dataBytes: this.kv.dataBytes,
      quotaBytes: this.kv.quotaBytes,
      sessions: this.kv.sessionCount,
      // Watches and leases: a watch from at or below compactRevision answers COMPACTED.
      revision: this.kv.currentRevision,
      compactRevision: this.kv.compactRevision,
      historyEvents: this.kv.historySize,
      leases: this.kv.leaseCount,
      watchers: this.watches?.size ?? 0,
      ...(s.detail === undefined ? {} : { detail: s.detail }),
    }
  }

  /** Not ready while stopping, and while this voter cannot reach a quorum (requests could not complete). */
  ready(): boolean {
    return !this.closing && this.replica.running && this.quorum.lost() === undefined
  }

  alarms(): string[] {
    return this.kv.alarm ? ['NOSPACE'] : []
  }

  /** Clear the NOSPACE alarm: a replicated command, refused (507) while the data is still over the quota. */
  async disarmAlarm(forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>> {
    // The signed operation of this route is kvCommands.disarm() itself: a byzantine cluster orders the client's envelope.
    const forCaller = caller === undefined ? undefined : { ...caller, signedHeaders: undefined, ...(this.signedClients ? {} : { envelope: undefined }) }
    const options = { session: undefined, forwarded, ...(forCaller === undefined ? {} : { caller: forCaller }) }
    const answer = await this.write(kvCommands.disarm(), options, (c) => c.disarmAlarm())
    return { ...answer, alarms: this.alarms() }
  }

  metrics() {
    return this.nodeMetrics.render()
  }

  members(): Record<string, unknown> {
    return { leader: this.replica.status().leader ?? null, ...describeMembership(this.replica.membership(), this.config.members) }
  }

  /**
   * Add a member as a learner, wait until it has caught up with the leader's
   * log, then promote it to voter (role 'voter'); a retry after a timeout or
   * a leader change picks up where the last attempt stopped.
   */
  async addMember(member: MemberConfig, role: MemberRole, forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>> {
    const forward = this.forwardMembership(forwarded, caller)
    if (forward !== undefined) return forward.run((c) => c.addMember(member, role))
    const protocolMember = toProtocolMember(member)
    const current = this.replica.membership()
    const voter = current.voters.find((m) => m.id === member.id)
    if (voter !== undefined) {
      if (role === 'learner') throw new ConfigError(`${member.id} is a voter; remove it first to make it a learner`, 'role')
      return { index: 0, changed: false, ...this.members() }
    }
    let index = 0
    if (!current.learners.some((m) => m.id === member.id)) index = await this.reconfigure({ type: 'add-learner', member: protocolMember })
    if (role === 'voter') {
      await this.waitCaughtUp(member.id)
      index = await this.reconfigure({ type: 'add-voter', member: protocolMember })
    }
    return { index, changed: true, ...this.members() }
  }

  async removeMember(id: string, forwarded: boolean, caller?: Principal): Promise<Record<string, unknown>> {
    let forward = this.forwardMembership(forwarded, caller)
    if (forward !== undefined) return forward.run((c) => c.removeMember(id))
    if (id === this.replica.self) {
      // Removing the leader: hand leadership over first (as etcd does), so the
      // cluster does not wait an election timeout; the new leader removes us.
      if (await this.handOverLeadership()) {
        forward = this.forwardMembership(false, caller)
        if (forward !== undefined) return forward.run((c) => c.removeMember(id))
      }
    }
    const current = this.replica.membership()
    if (![...current.voters, ...current.learners].some((m) => m.id === id))
      throw new HttpError(404, 'NOT_A_MEMBER', `${id} is not a member of the cluster`)
    const index = await this.reconfigure({ type: 'remove', id })
    return { index, changed: true, ...this.members() }
  }

  /**
   * If this node leads, try to hand leadership to the most up-to-date voter.
   * True when another node now leads; false when the protocol cannot
   * transfer, this node does not lead, or the transfer was given up.
   */
  async handOverLeadership(): Promise<boolean> {
    if (this.replica.status().leader !== this.replica.self) return false
    try {
      await this.replica.transferLeadership()
    } catch (error) {
      if (error instanceof UnsupportedError || error instanceof TimeoutError || error instanceof NotLeaderError) return false
      if (error instanceof ConfigError) return false // e.g. no other voter to take over
      throw error
    }
    return this.replica.status().leader !== this.replica.self
  }

  private async reconfigure(change: MembershipChange): Promise<number> {
    return (await this.replica.reconfigure(change)).index
  }

  /** Membership changes are ordered by the leader: forward there, or say where it is. */
  private forwardMembership(forwarded: boolean, caller: Principal | undefined): ForwardingClient | undefined {
    const leader = this.replica.status().leader
    if (leader === this.replica.self) return undefined
    const http = leader === undefined ? undefined : this.httpByMember.get(leader)
    if (forwarded || leader === undefined || http === undefined) throw new NotLeaderError(leader)
    this.nodeMetrics.forwarded.inc()
    // Membership changes are forwarded with this member's MAC (the leader then trusts the join proof checked here).
    // The forward's body is rebuilt from the parsed member (not the client's bytes): its operation is computed afresh.
    const forCaller = caller === undefined ? undefined : { ...caller, signedHeaders: undefined, operation: undefined }
    return new ForwardingClient(http, this.catchUpTimeoutMs() + 10_000, undefined, leader, this.forwardingTo(leader), forCaller)
  }

  private catchUpTimeoutMs(): number {
    return Math.max(30_000, this.config.requestTimeoutMs * 6)
  }

  /** Until the learner's log reaches the commit index the leader had when we started (Raft's progress report). */
  private async waitCaughtUp(id: string): Promise<void> {
    const started = Date.now()
    const target = this.replica.status().commitIndex
    for (;;) {
      const s = this.replica.status()
      if (s.leader !== this.replica.self) throw new NotLeaderError(s.leader, 'leadership moved while the new member was catching up; retry')
      const progress = (s.detail?.progress as Record<string, { match?: unknown }> | undefined)?.[id]
      if (progress === undefined) return // the protocol does not report progress: promote at once
      const match = typeof progress.match === 'number' ? progress.match : 0
      if (match >= target) return
      if (Date.now() - started > this.catchUpTimeoutMs())
        throw new HttpError(
          504,
          'NOT_CAUGHT_UP',
          `${id} is a learner but has not caught up (at ${match} of ${target}) within ${this.catchUpTimeoutMs()} ms; is it running and reachable? run members add again to promote it`,
        )
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  private async write(command: Uint8Array, options: WriteOptions, forward: (c: SynodClient) => Promise<unknown>): Promise<KvAnswer> {
    let result: CommandResult
    try {
      // A signed write is proposed as the client's envelope: the log records who asked, and the state machine checks its role.
      result = await this.replica.propose(this.signedClients ? this.envelopeOf(options.caller) : (options.caller?.envelope ?? command))
    } catch (error) {
      return this.forwardOrThrow(error, options.forwarded, forward, options)
    }
    return toAnswer(result)
  }

  /**
   * The planted "skip reply certificates" bug: propose the command but answer at once, from this node's
   * local state (`answer` gets the key's local value), without the reply certificate — the command may
   * never be ordered, or be ordered after writes that make its real result differ.
   */
  private tentative(command: Uint8Array, key: string, answer: (local: KvAnswer) => KvAnswer): KvAnswer {
    this.replica.propose(command).catch(() => undefined)
    const local = toAnswer(this.replica.readLocal(kvRequests.get(key)))
    return answer(local)
  }

  /** The client's signed envelope; a byzantine cluster executes nothing else (TLS identifies a client to this node only). */
  private envelopeOf(caller: Principal | undefined): Uint8Array {
    if (caller?.envelope === undefined)
      throw new HttpError(
        400,
        'SIGNATURE_REQUIRED',
        'this cluster runs a byzantine protocol: every replica verifies the client signature, so sign the request with a client key (Synod-Client-Key, Synod-Timestamp, Synod-Signature); a TLS certificate alone convinces only this node',
      )
    return caller.envelope
  }

  /**
   * The fallback when the local replica cannot answer (NotLeaderError; a Raft
   * follower serves reads and forwards writes inside the protocol first): a
   * follower forwards to the leader (one hop, marked so the leader never
   * forwards again). The client's session headers travel along, so a retry
   * stays exactly-once.
   */
  private async forwardOrThrow(
    error: unknown,
    forwarded: boolean,
    call: (c: SynodClient) => Promise<unknown>,
    options?: WriteOptions,
  ): Promise<KvAnswer> {
    const leader = error instanceof NotLeaderError ? error.leaderHint : undefined
    if (error instanceof NotLeaderError && leader === undefined) throw this.noQuorum() ?? error
    const http = leader === undefined ? undefined : this.httpByMember.get(leader)
    if (forwarded || leader === undefined || http === undefined || leader === this.replica.self) throw error
    this.nodeMetrics.forwarded.inc()
    const client = new ForwardingClient(http, this.config.requestTimeoutMs + 1000, options?.session, leader, this.forwardingTo(leader), options?.caller)
    try {
      return (await call(client)) as KvAnswer
    } catch (forwardError) {
      if (forwardError instanceof SynodHttpError && forwardError.status === 503) throw error
      throw this.unsafeRawForwardErrors ? forwardError : client.unreachable(forwardError)
    }
  }

  /** How to vouch for a forward to `leader`: the MAC key this node shares with it. */
  private forwardingTo(leader: string): (ForwardingAuth & { leaderKey: string }) | undefined {
    if (this.forwarding === undefined) return undefined
    const m = this.replica.membership()
    // Once per leader and membership, not per forwarded request.
    const cached = this.forwardingCache
    if (cached !== undefined && cached.leader === leader && cached.membership === m) return cached.auth
    const member = [...m.voters, ...m.learners, ...(m.outgoing ?? [])].find((x) => x.id === leader)
    if (member === undefined) throw new NotLeaderError(leader, 'the leader is not in this node\'s membership yet; retry shortly')
    const auth = { ...this.forwarding, leaderKey: toHex(member.publicKey) }
    this.forwardingCache = { leader, membership: m, auth }
    return auth
  }
  private forwardingCache: { leader: string; membership: object; auth: ForwardingAuth & { leaderKey: string } } | undefined

  /** 503 NO_QUORUM when this voter knows no leader because too few voters are reachable. */
  private noQuorum(): HttpError | undefined {
    const lost = this.quorum.lost()
    if (lost === undefined) return undefined
    return new HttpError(
      503,
      'NO_QUORUM',
      `no quorum: heard from ${lost.reachable} of ${lost.voters} voters within ${this.quorum.windowMs} ms, ${lost.needed} needed; requests cannot complete until enough voters are back`,
      { leaderHint: null, ...lost },
    )
  }
}
