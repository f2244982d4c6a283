// Prometheus metrics: the Replica's counters and the protocol's status as
// gauges, process and Node runtime metrics, HTTP request durations by route,
// write-ahead-log syncs and snapshot files, leader changes, and the libp2p
// transport's per-peer figures. A fresh registry per node (tests run several
// nodes in one process). docs/grafana-dashboard.json plots them.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Replica } from '@synod/core'
import type { DurableSync } from '@synod/storage/node'
import type { Libp2pTransportMetrics } from '@synod/transport-libp2p'

/** What the metrics read from the KV state machine. */
export interface KvFigures {
  readonly alarm: boolean
  readonly dataBytes: number
  readonly quotaBytes: number
  readonly sessionCount: number
  readonly currentRevision: number
  readonly leaseCount?: number
  readonly compactRevision?: number
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

export class NodeMetrics {
  readonly registry = new Registry()
  readonly httpLatency: Histogram<'route' | 'method' | 'status'>
  private readonly counters: Gauge<'name'>
  private readonly commitIndex: Gauge
  private readonly appliedIndex: Gauge
  private readonly term: Gauge
  private readonly isLeader: Gauge
  private readonly leaderChanges: Counter
  readonly forwarded: Counter
  private readonly alarm: Gauge<'alarm'>
  private readonly dataBytes: Gauge
  private readonly quotaBytes: Gauge
  private readonly sessions: Gauge
  private readonly revision: Gauge
  private readonly leases: Gauge
  private readonly compactRevision: Gauge
  private readonly watchers: Gauge
  /** Set by the daemon once its watch hub exists: how many watch streams this node serves. */
  watcherCount: () => number = () => 0
  private readonly walSync: Histogram
  private readonly walBytes: Counter
  private readonly snapshotSave: Histogram
  private readonly snapshotBytes: Gauge
  private readonly peerConnected: Gauge<'peer'>
  private readonly peerBytes: Counter<'peer' | 'direction'>
  private readonly peerQueued: Gauge<'peer'>
  private readonly peerDrops: Counter<'reason'>
  private readonly connectionsRejected: Counter<'reason'>
  /** Cumulative transport figures seen at the last scrape (counters grow by the difference). */
  private readonly seen = new Map<string, number>()

  private readonly verifications: Gauge<'result'>
  /** The signature verifier shared by the API guard and a byzantine protocol, when there is one. */
  verifierStats: (() => { readonly hits: number; readonly misses: number }) | undefined

  constructor(
    private readonly replica: Replica,
    private readonly kv?: KvFigures,
    private readonly transport?: { metrics(): Libp2pTransportMetrics },
  ) {
    const registers = [this.registry]
    this.verifications = new Gauge({
      name: 'synod_signature_verifications_total',
      help: "Signature checks of the verifier the API and a byzantine protocol share: 'verified' ran ed25519, 'cached' reused a verdict (a client signature the API checked, checked again by the protocol)",
      labelNames: ['result'],
      registers,
    })
    collectDefaultMetrics({ register: this.registry })
    this.httpLatency = new Histogram({
      name: 'synod_http_request_seconds',
      help: 'Client API request duration by route template, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: SECONDS,
      registers,
    })
    this.counters = new Gauge({ name: 'synod_replica_events_total', help: 'Replica runtime counters (messages, drops by reason, syncs, commits, ...)', labelNames: ['name'], registers })
    this.commitIndex = new Gauge({ name: 'synod_commit_index', help: 'Highest committed index', registers })
    this.appliedIndex = new Gauge({ name: 'synod_applied_index', help: 'Highest index applied to the state machine', registers })
    this.term = new Gauge({ name: 'synod_term', help: 'Current term, ballot or view', registers })
    this.isLeader = new Gauge({ name: 'synod_is_leader', help: '1 when this node leads', registers })
    this.leaderChanges = new Counter({ name: 'synod_leader_changes_total', help: 'Leaders this node has seen elected', registers })
    this.forwarded = new Counter({ name: 'synod_forwarded_requests_total', help: 'Requests forwarded to the leader', registers })
    this.alarm = new Gauge({ name: 'synod_alarm', help: '1 while the alarm is raised (NOSPACE: over the data quota)', labelNames: ['alarm'], registers })
    this.dataBytes = new Gauge({ name: 'synod_kv_data_bytes', help: 'KV data size the quota is measured against', registers })
    this.quotaBytes = new Gauge({ name: 'synod_kv_quota_bytes', help: 'KV data quota (quotaBackendBytes)', registers })
    this.sessions = new Gauge({ name: 'synod_kv_sessions', help: 'Exactly-once client sessions kept', registers })
    this.revision = new Gauge({ name: 'synod_kv_revision', help: "The store's revision (log index of the last change to a key)", registers })
    this.leases = new Gauge({ name: 'synod_kv_leases', help: 'Leases kept', registers })
    this.compactRevision = new Gauge({ name: 'synod_kv_compact_revision', help: 'Every change at or below this revision has left the watch history', registers })
    this.watchers = new Gauge({ name: 'synod_watchers', help: 'Watch streams this node serves', registers })
    this.walSync = new Histogram({ name: 'synod_wal_fsync_seconds', help: 'Write-ahead-log batch write + fdatasync duration', buckets: SECONDS, registers })
    this.walBytes = new Counter({ name: 'synod_wal_bytes_total', help: 'Bytes appended to the write-ahead log', registers })
    this.snapshotSave = new Histogram({ name: 'synod_snapshot_save_seconds', help: 'Snapshot file write + fsync duration', buckets: SECONDS, registers })
    this.snapshotBytes = new Gauge({ name: 'synod_snapshot_bytes', help: 'Size of the last snapshot file written', registers })
    this.peerConnected = new Gauge({ name: 'synod_peer_connected', help: '1 while an outbound stream to the member is open', labelNames: ['peer'], registers })
    this.peerBytes = new Counter({ name: 'synod_peer_bytes_total', help: 'Payload bytes exchanged with a member', labelNames: ['peer', 'direction'], registers })
    this.peerQueued = new Gauge({ name: 'synod_peer_queued_bytes', help: 'Bytes queued for a member', labelNames: ['peer'], registers })
    this.peerDrops = new Counter({ name: 'synod_transport_drops_total', help: 'Messages the transport dropped, by reason', labelNames: ['reason'], registers })
    this.connectionsRejected = new Counter({
      name: 'synod_connections_rejected_total',
      help: 'Inbound peer connections refused: non-member (authenticated, not in the membership) or handshake (garbage, timeout)',
      labelNames: ['reason'],
      registers,
    })
  }

  /** A leader was elected (the Replica's `leader` event). */
  leaderElected(): void {
    this.leaderChanges.inc()
  }

  /** A write-ahead-log sync completed (durable storage's `onSync`). */
  synced(sync: DurableSync): void {
    this.walSync.observe(sync.seconds)
    this.walBytes.inc(sync.bytes)
    if (sync.snapshot !== undefined) {
      this.snapshotSave.observe(sync.snapshot.seconds)
      this.snapshotBytes.set(sync.snapshot.bytes)
    }
  }

  /** An answered API request. */
  requestDone(route: string, method: string, status: number, seconds: number): void {
    this.httpLatency.observe({ route, method, status: String(status) }, seconds)
  }

  async render(): Promise<{ contentType: string; body: string }> {
    if (this.replica.running) {
      const status = this.replica.status()
      for (const [name, value] of Object.entries(status.counters)) this.counters.set({ name }, value)
      this.commitIndex.set(status.commitIndex)
      this.appliedIndex.set(status.appliedIndex)
      this.term.set(status.term)
      this.isLeader.set(status.leader === status.id ? 1 : 0)
    }
    if (this.kv !== undefined) {
      this.alarm.set({ alarm: 'NOSPACE' }, this.kv.alarm ? 1 : 0)
      this.dataBytes.set(this.kv.dataBytes)
      this.quotaBytes.set(this.kv.quotaBytes)
      this.sessions.set(this.kv.sessionCount)
      this.revision.set(this.kv.currentRevision)
      this.leases.set(this.kv.leaseCount ?? 0)
      this.compactRevision.set(this.kv.compactRevision ?? 0)
      this.watchers.set(this.watcherCount())
    }
    if (this.verifierStats !== undefined) {
      const { hits, misses } = this.verifierStats()
      this.verifications.set({ result: 'verified' }, misses)
      this.verifications.set({ result: 'cached' }, hits)
    }
    if (this.transport !== undefined) this.renderTransport(this.transport.metrics())
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }

  private renderTransport(t: Libp2pTransportMetrics): void {
    for (const [peer, p] of Object.entries(t.peers)) {
      this.peerConnected.set({ peer }, p.connected ? 1 : 0)
      this.peerQueued.set({ peer }, p.queuedBytes)
      this.grow(this.peerBytes, { peer, direction: 'sent' }, `sent:${peer}`, p.bytesSent)
      this.grow(this.peerBytes, { peer, direction: 'received' }, `received:${peer}`, p.bytesReceived)
    }
    for (const [reason, count] of Object.entries(t.drops)) this.grow(this.peerDrops, { reason }, `drop:${reason}`, count ?? 0)
    this.grow(this.connectionsRejected, { reason: 'non-member' }, 'rejected:non-member', t.connections.rejectedNonMember)
    this.grow(this.connectionsRejected, { reason: 'handshake' }, 'rejected:handshake', t.connections.failedHandshake)
  }

  /** Advance a counter to a cumulative figure read from elsewhere (it never goes down). */
  private grow<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>>, key: string, total: number): void {
    const delta = total - (this.seen.get(key) ?? 0)
    if (delta > 0) counter.inc(labels, delta)
    this.seen.set(key, Math.max(total, this.seen.get(key) ?? 0))
  }
}
