// The live cluster under test: real `synod start` processes with fresh data
// folders (made by @synod/node's prepareCluster, as `synod init --nodes N`
// does), dialing each other through the link proxies on 127.0.0.1 or, as
// root, each in its own network namespace (the ClusterNetwork). Every process,
// proxy and namespace is removed on stop, on failure, on Ctrl-C and at exit.
import { renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type ClusterNode, prepareCluster, startNodeProcess, stopNodes, synodCommand, waitReady } from '@synod/node/cluster'
import { FAULT_CONTROL, type FaultState, NO_FAULTS } from '@synod/node/fault-hooks'
import { call } from './http-call.js'
import { LinkProxies } from './link-proxies.js'
import type { ClusterNetwork, NetworkKind } from './network.js'
import { NamespaceNetwork } from './netns.js'

/** 'starting': restarted, its API not answering yet (a start takes seconds on a busy machine). */
export type NodeState = 'up' | 'starting' | 'killed' | 'paused'

/** A restarted node whose API has not answered within this long is left 'starting' (the watch is bounded). */
const START_WATCH_MS = 120_000

export class LiveCluster {
  readonly state: NodeState[]
  /** Every process id this cluster started (restarts included): tests check none outlives the run. */
  readonly spawned: number[] = []
  /** Nodes whose clock or disk is faulted now (clock-skew, disk-stall). */
  private readonly faulted = new Set<number>()
  private exitHook: (() => void) | undefined
  /** Per node, the number of its current incarnation: a readiness watch of an older one stops. */
  private readonly incarnation: number[] = []
  private stopping = false
  /** Called when a restarted node's API answers (state 'starting' → 'up'). */
  onUp: (() => void) | undefined

  private constructor(
    readonly root: string,
    readonly nodes: ClusterNode[],
    readonly network: ClusterNetwork,
    private readonly env: Record<string, string>,
    /** Each node's fault control file (clock skew, fsync stalls), when the run injects those faults; else none exists. */
    private readonly controlFiles: readonly string[] | undefined,
  ) {
    this.state = nodes.map(() => 'up')
  }

  /** Prepare, network and start an n-node cluster; waits until every node is ready (bounded by `startupMs`). */
  static async start(options: {
    /** Link proxies on 127.0.0.1 (default), or a network namespace per node (root only: see netns.ts). */
    network?: NetworkKind
    root: string
    protocol: string
    nodes: number
    env: Record<string, string>
    startupMs: number
    protocolOptions?: Record<string, unknown>
    /** Give every node the test-only fault hooks (SYNOD_DEBUG_FAULT_CONTROL): only runs with clock-skew or disk-stall. */
    faultHooks?: boolean
  }): Promise<LiveCluster> {
    const nodes = await prepareCluster(options.root, options.protocol, options.nodes, options.protocolOptions ?? {})
    const network = options.network === 'netns' ? await NamespaceNetwork.install(nodes) : await LinkProxies.install(nodes)
    const controlFiles = options.faultHooks === true ? nodes.map((n) => join(n.dataDir, 'fault-control.json')) : undefined
    const cluster = new LiveCluster(options.root, nodes, network, options.env, controlFiles)
    // A process that outlives the runner would keep its ports and data: kill them all at exit, whatever the cause.
    cluster.exitHook = () => cluster.killAllNow()
    process.on('exit', cluster.exitHook)
    try {
      for (let i = 0; i < nodes.length; i++) cluster.spawn(i)
      await waitReady(nodes, options.startupMs)
      return cluster
    } catch (error) {
      await cluster.stop()
      throw error
    }
  }

  /** The command line the nodes run (`synod start` from the built CLI, or from source through tsx). */
  static command(): string {
    return synodCommand({ preferBuilt: true }).at(-1)!
  }

  get size(): number {
    return this.nodes.length
  }

  kill(i: number): Promise<void> {
    const node = this.nodes[i]!
    this.state[i] = 'killed'
    const child = node.process
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    child.kill('SIGKILL')
    return node.exited!.then(() => undefined)
  }

  restart(i: number): void {
    if (this.state[i] !== 'killed') return
    this.spawn(i)
    this.state[i] = 'starting'
    void this.watchStart(i, (this.incarnation[i] = (this.incarnation[i] ?? 0) + 1))
  }

  /** 'starting' → 'up' once the restarted node's API answers; bounded in time, ends if the node is killed again. */
  private async watchStart(i: number, incarnation: number): Promise<void> {
    const deadline = performance.now() + START_WATCH_MS
    while (!this.stopping && this.state[i] === 'starting' && this.incarnation[i] === incarnation && performance.now() < deadline) {
      const answer = await call(this.nodes[i]!.http, 'GET', '/v1/status', undefined, 1000)
      if (answer.kind === 'ok' && this.state[i] === 'starting' && this.incarnation[i] === incarnation) {
        this.state[i] = 'up'
        this.onUp?.()
        return
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  private spawn(i: number): void {
    const control = this.controlFiles?.[i]
    // The built daemon when there is one: a start through tsx compiles it again, seconds on a busy machine,
    // longer than the quiet time between kill-all windows (the nodes were killed again before they were up).
    const env = control === undefined ? this.env : { ...this.env, [FAULT_CONTROL]: control }
    startNodeProcess(this.nodes[i]!, env, { preferBuilt: true, launcher: this.network.launcher(i) })
    const pid = this.nodes[i]!.process?.pid
    if (pid !== undefined) this.spawned.push(pid)
  }

  pause(i: number): void {
    if (this.state[i] !== 'up') return
    this.nodes[i]!.process?.kill('SIGSTOP')
    this.state[i] = 'paused'
  }

  resume(i: number): void {
    if (this.state[i] !== 'paused') return
    this.nodes[i]!.process?.kill('SIGCONT')
    this.state[i] = 'up'
  }

  /** Set node i's clock and disk faults (its control file, written whole and renamed: the node never reads half of it). */
  setFaults(i: number, state: Partial<FaultState>): void {
    const file = this.controlFiles?.[i]
    if (file === undefined) throw new Error('this cluster was started without fault hooks')
    const whole = { ...NO_FAULTS, ...state }
    writeFileSync(`${file}.tmp`, JSON.stringify(whole))
    renameSync(`${file}.tmp`, file)
    if (JSON.stringify(whole) === JSON.stringify(NO_FAULTS)) this.faulted.delete(i)
    else this.faulted.add(i)
  }

  /** Undo every fault: resume paused nodes, restart killed ones, restore clocks and disks, heal the network. */
  async healAll(): Promise<Array<{ readonly node: number; readonly action: 'resumed' | 'restarted' | 'restored' }>> {
    const touched: Array<{ node: number; action: 'resumed' | 'restarted' | 'restored' }> = []
    for (const i of [...this.faulted]) {
      this.setFaults(i, NO_FAULTS)
      touched.push({ node: i, action: 'restored' })
    }
    this.state.forEach((s, i) => {
      if (s === 'paused') {
        this.resume(i)
        touched.push({ node: i, action: 'resumed' })
      } else if (s === 'killed') {
        this.restart(i)
        touched.push({ node: i, action: 'restarted' })
      }
    })
    await this.network.heal()
    return touched
  }

  /** Stop everything: paused nodes are resumed so SIGTERM can reach them, stragglers get SIGKILL; the network removed. */
  async stop(options: { removeData?: boolean } = {}): Promise<void> {
    this.stopping = true
    for (const node of this.nodes) node.process?.kill('SIGCONT')
    await stopNodes(this.nodes, 3000)
    await this.network.close()
    if (this.exitHook !== undefined) process.off('exit', this.exitHook)
    this.exitHook = undefined
    if (options.removeData === true) rmSync(this.root, { recursive: true, force: true })
  }

  /** Synchronous last resort (process 'exit', a second Ctrl-C): SIGKILL every child still running. */
  killAllNow(): void {
    for (const node of this.nodes) {
      const child = node.process
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}
