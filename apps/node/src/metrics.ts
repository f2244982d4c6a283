// Prometheus metrics: the Replica's counters and the protocol's status as
// gauges, plus HTTP request latency. A fresh registry per node (tests run
// several nodes in one process).
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Replica } from '@synod/core'

/** What the metrics read from the KV state machine. */
export interface KvFigures {
  readonly alarm: boolean
  readonly dataBytes: number
  readonly quotaBytes: number
  readonly sessionCount: number
}

export class NodeMetrics {
  readonly registry = new Registry()
  readonly httpLatency: Histogram<'route' | 'status'>
  private readonly counters: Gauge<'name'>
  private readonly commitIndex: Gauge
  private readonly term: Gauge
  private readonly isLeader: Gauge
  readonly forwarded: Counter
  private readonly alarm: Gauge<'alarm'>
  private readonly dataBytes: Gauge
  private readonly quotaBytes: Gauge
  private readonly sessions: Gauge

  constructor(
    private readonly replica: Replica,
    private readonly kv?: KvFigures,
  ) {
    this.httpLatency = new Histogram({
      name: 'synod_http_request_seconds',
      help: 'Client API request latency',
      labelNames: ['route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    })
    this.counters = new Gauge({
      name: 'synod_replica_events_total',
      help: 'Replica runtime counters (messages, drops by reason, syncs, commits, ...)',
      labelNames: ['name'],
      registers: [this.registry],
    })
    this.commitIndex = new Gauge({ name: 'synod_commit_index', help: 'Highest committed index', registers: [this.registry] })
    this.term = new Gauge({ name: 'synod_term', help: 'Current term, ballot or view', registers: [this.registry] })
    this.isLeader = new Gauge({ name: 'synod_is_leader', help: '1 when this node leads', registers: [this.registry] })
    this.forwarded = new Counter({ name: 'synod_forwarded_requests_total', help: 'Requests forwarded to the leader', registers: [this.registry] })
    this.alarm = new Gauge({ name: 'synod_alarm', help: '1 while the alarm is raised (NOSPACE: over the data quota)', labelNames: ['alarm'], registers: [this.registry] })
    this.dataBytes = new Gauge({ name: 'synod_kv_data_bytes', help: 'KV data size the quota is measured against', registers: [this.registry] })
    this.quotaBytes = new Gauge({ name: 'synod_kv_quota_bytes', help: 'KV data quota (quotaBackendBytes)', registers: [this.registry] })
    this.sessions = new Gauge({ name: 'synod_kv_sessions', help: 'Exactly-once client sessions kept', registers: [this.registry] })
  }

  async render(): Promise<{ contentType: string; body: string }> {
    if (this.replica.running) {
      const status = this.replica.status()
      for (const [name, value] of Object.entries(status.counters)) this.counters.set({ name }, value)
      this.commitIndex.set(status.commitIndex)
      this.term.set(status.term)
      this.isLeader.set(status.leader === status.id ? 1 : 0)
    }
    if (this.kv !== undefined) {
      this.alarm.set({ alarm: 'NOSPACE' }, this.kv.alarm ? 1 : 0)
      this.dataBytes.set(this.kv.dataBytes)
      this.quotaBytes.set(this.kv.quotaBytes)
      this.sessions.set(this.kv.sessionCount)
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}
