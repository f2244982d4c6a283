// The cluster runner's parts without a cluster: the seeded schedule, the
// history format and its translation, the pruning of unobserved unknown
// writes, the arguments, and the link proxies on real sockets.
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkLinearizability, type Operation } from '@synod/conformance'
import { UsageError } from '../../src/args.js'
import { parseClusterArguments, parseDuration } from '../../src/cluster/args.js'
import { type HistoryEvent, pruneUnobservedUnknowns, toOperations } from '../../src/cluster/history.js'
import { LinkProxies } from '../../src/cluster/link-proxies.js'
import { CLOCK_RATES, CLOCK_RATES_WITHIN_10_PERCENT, describeFault, planFaults } from '../../src/cluster/nemesis.js'
import { daemonProtocolOf } from '../../src/cluster/run.js'
import { completions, renderClusterReport } from '../../src/cluster/report.js'
import { linksDown } from '../../src/cluster/sampler.js'

describe('planFaults', () => {
  it('is a function of the seed, uses only the given nemeses and stays within the duration', () => {
    const a = planFaults(7, ['kill', 'partition'], 4, 60_000)
    expect(planFaults(7, ['kill', 'partition'], 4, 60_000)).toEqual(a)
    expect(planFaults(8, ['kill', 'partition'], 4, 60_000)).not.toEqual(a)
    expect(a.length).toBeGreaterThan(5)
    for (const [i, w] of a.entries()) {
      expect(['kill', 'partition']).toContain(w.fault.kind)
      expect(w.healAt).toBeGreaterThan(w.at)
      expect(w.healAt).toBeLessThanOrEqual(60_000)
      if (i > 0) expect(w.at).toBeGreaterThan(a[i - 1]!.healAt) // quiet time between windows
    }
    expect(planFaults(1, [], 3, 60_000)).toEqual([])
  })

  it('clock-skew and disk-stall: a seeded clock rate or a stalled fsync on the leader or a node, named in the arguments', () => {
    const plan = planFaults(3, ['clock-skew', 'disk-stall'], 3, 60_000)
    expect(new Set(plan.map((w) => w.fault.kind))).toEqual(new Set(['clock-skew', 'disk-stall']))
    for (const { fault } of plan) {
      if (fault.kind === 'clock-skew') {
        expect(CLOCK_RATES).toContain(fault.rate)
        expect(describeFault(fault)).toMatch(/^clock of (the leader|node\d) at ×/)
      } else expect(describeFault(fault)).toMatch(/^fsync of (the leader|node\d) stalled$/)
    }
    expect(parseClusterArguments(['--cluster', '--nemesis', 'clock-skew,disk-stall']).nemeses).toEqual(['clock-skew', 'disk-stall'])
    // '+' overlaps kinds in one window, on one target; an unknown or repeated part is a usage error.
    const together = planFaults(4, ['clock-skew+partition'], 3, 30_000)
    expect(together.length).toBeGreaterThan(2)
    for (const { fault } of together) {
      expect(fault.kind).toBe('together')
      if (fault.kind !== 'together') continue
      expect(fault.faults.map((f) => f.kind)).toEqual(['clock-skew', 'partition'])
      const [skew, cut] = fault.faults
      expect('target' in cut! && 'target' in skew! && cut.target).toEqual('target' in skew! ? skew.target : undefined)
      expect(describeFault(fault)).toMatch(/^clock of .* \+ isolate /)
    }
    expect(() => parseClusterArguments(['--cluster', '--nemesis', 'clock-skew+bogus'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--nemesis', 'kill+kill'])).toThrow(UsageError)
    // --clock-rates: the seed picks among the given rates only; bad rates are usage errors.
    const within = parseClusterArguments(['--cluster', '--nemesis', 'clock-skew', '--clock-rates', '0.92,0.95,1.05,1.08'])
    expect(within.clockRates).toEqual([0.92, 0.95, 1.05, 1.08])
    expect(within.clockRates).toEqual(CLOCK_RATES_WITHIN_10_PERCENT)
    expect(parseClusterArguments(['--cluster']).clockRates).toEqual(CLOCK_RATES)
    const rates = planFaults(9, ['clock-skew'], 3, 60_000, within.clockRates).map((w) => (w.fault.kind === 'clock-skew' ? w.fault.rate : 0))
    expect(rates.length).toBeGreaterThan(5)
    for (const rate of rates) expect(within.clockRates).toContain(rate)
    for (const bad of ['0', 'fast', '1,,2', '25', '-1', '0.01'])
      expect(() => parseClusterArguments(['--cluster', '--clock-rates', bad])).toThrow(UsageError)
    expect(daemonProtocolOf('raft-lease')).toEqual({ daemonProtocol: 'raft', protocolOptions: { readMode: 'lease' } })
    expect(daemonProtocolOf('paxos-lease')).toEqual({ daemonProtocol: 'paxos', protocolOptions: { readMode: 'lease' } })
    expect(daemonProtocolOf('pbft')).toEqual({ daemonProtocol: 'pbft', protocolOptions: {} })
  })
})

const ev = (index: number, time: number, e: Omit<HistoryEvent, 'index' | 'time'>): HistoryEvent => ({ index, time, ...e })

describe('history format', () => {
  it('pairs invokes with completions; a cas-mismatch is a definite cas that did not apply; info stays open', () => {
    const events: HistoryEvent[] = [
      ev(0, 1, { process: 0, type: 'invoke', f: 'write', key: 'k', value: 'a' }),
      ev(1, 2, { process: 1, type: 'invoke', f: 'cas', key: 'k', value: [null, 'b'] }),
      ev(2, 3, { process: 0, type: 'ok', f: 'write', key: 'k', value: 'a' }),
      ev(3, 4, { process: 1, type: 'fail', f: 'cas', key: 'k', value: [null, 'b'], error: 'cas-mismatch', current: 'a' }),
      ev(4, 5, { process: 'nemesis', type: 'info', f: 'kill', value: ['node1'] }),
      ev(5, 6, { process: 0, type: 'invoke', f: 'write', key: 'k', value: 'c' }),
      ev(6, 7, { process: 0, type: 'info', f: 'write', key: 'k', value: 'c', error: 'timeout after 2000 ms' }),
      ev(7, 8, { process: 2, type: 'invoke', f: 'read', key: 'k', value: null }),
      ev(8, 9, { process: 2, type: 'ok', f: 'read', key: 'k', value: 'a' }),
    ]
    const ops = toOperations(events)
    expect(ops.map((o) => [o.kind, o.outcome, o.invokedAt, o.completedAt])).toEqual([
      ['write', 'ok', 1, 3],
      ['cas', 'ok', 2, 4],
      ['write', 'info', 6, undefined],
      ['read', 'ok', 8, 9],
    ])
    expect(ops[1]!.input).toEqual({ expected: null, value: 'b' })
    expect(ops[1]!.output).toEqual({ applied: false })
    expect(ops[3]!.output).toEqual({ value: 'a' })
  })

  it('refuses a completion without an invoke', () => {
    expect(() => toOperations([ev(0, 1, { process: 3, type: 'ok', f: 'read', key: 'k', value: null })])).toThrow(/without an invoke/)
  })
})

function op(id: number, partial: Partial<Operation> & Pick<Operation, 'kind' | 'outcome' | 'invokedAt'>): Operation {
  return { id, client: id, key: 'k', input: {}, completedAt: undefined, ...partial }
}

describe('pruneUnobservedUnknowns', () => {
  it('drops unknown writes nobody saw, keeps the ones a read, a cas or a cas mismatch observed', () => {
    const ops = [
      op(0, { kind: 'write', outcome: 'info', invokedAt: 0, input: { value: 'never-seen' } }),
      op(1, { kind: 'write', outcome: 'info', invokedAt: 0, input: { value: 'read-later' } }),
      op(2, { kind: 'read', outcome: 'ok', invokedAt: 5, completedAt: 6, output: { value: 'read-later' } }),
      op(3, { kind: 'cas', outcome: 'info', invokedAt: 0, input: { expected: null, value: 'seen-by-mismatch' } }),
    ]
    const events = [ev(0, 9, { process: 9, type: 'fail', f: 'cas', key: 'k', value: ['x', 'y'], error: 'cas-mismatch', current: 'seen-by-mismatch' })]
    expect(pruneUnobservedUnknowns(ops, events).map((o) => o.id)).toEqual([1, 2, 3])
  })

  it('keeps a real violation visible: a stale read after an acknowledged write', () => {
    const ops = [
      op(0, { kind: 'write', outcome: 'ok', invokedAt: 0, completedAt: 1, input: { value: 'a' } }),
      op(1, { kind: 'write', outcome: 'ok', invokedAt: 2, completedAt: 3, input: { value: 'b' } }),
      op(2, { kind: 'write', outcome: 'info', invokedAt: 2, input: { value: 'lost-in-a-timeout' } }),
      op(3, { kind: 'read', outcome: 'ok', invokedAt: 4, completedAt: 5, output: { value: 'a' } }),
    ]
    const pruned = pruneUnobservedUnknowns(ops, [])
    expect(pruned.map((o) => o.id)).toEqual([0, 1, 3])
    const record = { nodes: [], correctNodes: [], commits: [], leaders: [], timeline: [], healedAt: 0, endedAt: 5, acknowledgedCommands: new Map(), livenessBudgetMs: 0 }
    expect(checkLinearizability({ ...record, history: pruned }).verdict).toBe('violation')
  })
})

describe('parseClusterArguments', () => {
  it('has the documented defaults', () => {
    const args = parseClusterArguments(['--cluster'])
    expect(args).toMatchObject({ protocol: 'raft', nodes: 3, durationMs: 20_000, nemeses: ['kill', 'pause', 'partition'], clients: 8, keys: 5, seed: 1 })
    expect(parseClusterArguments(['--cluster', '--protocol', 'pbft']).nodes).toBe(4)
    expect(parseClusterArguments(['--cluster', '--env', 'A=1', '--env', 'B=x=y']).env).toEqual({ A: '1', B: 'x=y' })
    expect(parseDuration('1500ms', '--duration')).toBe(1500)
    expect(parseDuration('2m', '--duration')).toBe(120_000)
    // Byzantine protocols' clients verify reply certificates unless told not to; crash-fault ones have none.
    expect(parseClusterArguments(['--cluster', '--protocol', 'pbft']).verify).toBe(true)
    expect(parseClusterArguments(['--cluster', '--protocol', 'hotstuff']).verify).toBe(true)
    expect(parseClusterArguments(['--cluster', '--protocol', 'pbft', '--verify', 'off']).verify).toBe(false)
    expect(parseClusterArguments(['--cluster']).verify).toBe(false)
    // The network: auto unless told (netns where it works, else proxies; netns.test.ts).
    expect(parseClusterArguments(['--cluster']).network).toBe('auto')
    expect(parseClusterArguments(['--cluster', '--network', 'netns']).network).toBe('netns')
    expect(parseClusterArguments(['--cluster', '--network', 'proxies']).network).toBe('proxies')
  })

  it('refuses bad input with a usage error', () => {
    expect(() => parseClusterArguments(['--cluster', '--nemesis', 'kill,meteor'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--protocol', 'raft,pbft'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--duration', 'soon'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--env', 'novalue'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--scenario', 'x'])).toThrow(UsageError)
    expect(() => parseClusterArguments(['--cluster', '--protocol', 'pbft', '--verify', 'maybe'])).toThrow(/on or off/)
    expect(() => parseClusterArguments(['--cluster', '--protocol', 'raft', '--verify', 'on'])).toThrow(/no reply certificates/)
    expect(() => parseClusterArguments(['--cluster', '--network', 'docker'])).toThrow(/auto, proxies or netns/)
  })
})

describe('LinkProxies', () => {
  const servers: Server[] = []
  let proxies: LinkProxies | undefined
  let dir: string | undefined
  afterEach(async () => {
    await proxies?.close()
    for (const s of servers.splice(0)) s.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  /** Ask `port` for an echo of `text`; resolves with the echo, or 'cut' when the connection is refused or reset. */
  function echo(port: number, text: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1')
      let got = ''
      socket.on('data', (d: Buffer) => {
        got += d.toString()
        if (got === text) {
          socket.end()
          resolve(got)
        }
      })
      socket.on('error', () => resolve('cut'))
      socket.on('close', () => resolve(got === text ? got : 'cut'))
      socket.write(text)
    })
  }

  it('rewrites the members to dial through a proxy per ordered link; isolate and partition cut, heal restores', async () => {
    dir = mkdtempSync(join(tmpdir(), 'synod-proxies-'))
    const ports: number[] = []
    for (let i = 0; i < 3; i++) {
      const server = createServer((s) => s.pipe(s))
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      servers.push(server)
      ports.push((server.address() as { port: number }).port)
    }
    const nodes = ports.map((port, i) => {
      const configFile = join(dir!, `n${i}.json`)
      writeFileSync(configFile, JSON.stringify({ listen: [`/ip4/127.0.0.1/tcp/${port}`], members: ports.map((p, j) => ({ id: `id${j}`, addrs: [`/ip4/127.0.0.1/tcp/${p}`] })) }))
      return { id: `id${i}`, configFile }
    })
    proxies = await LinkProxies.install(nodes)
    const config = (i: number) => JSON.parse(readFileSync(nodes[i]!.configFile, 'utf8')) as { members: Array<{ id: string; addrs: string[] }> }
    const via = (from: number, to: number) => Number(/tcp\/(\d+)/.exec(config(from).members.find((m) => m.id === `id${to}`)!.addrs[0]!)![1])
    expect(config(0).members.find((m) => m.id === 'id0')!.addrs[0]).toBe(`/ip4/127.0.0.1/tcp/${ports[0]}`) // its own address is untouched
    expect(via(0, 1)).not.toBe(ports[1])
    expect(await echo(via(0, 1), 'hello')).toBe('hello')

    proxies.isolate(1)
    expect(await echo(via(0, 1), 'x')).toBe('cut')
    expect(await echo(via(1, 2), 'x')).toBe('cut')
    expect(await echo(via(0, 2), 'ok')).toBe('ok')

    proxies.partition([[0], [1, 2]])
    expect(await echo(via(1, 2), 'ok')).toBe('ok')
    expect(await echo(via(2, 0), 'x')).toBe('cut')

    proxies.heal()
    expect(await echo(via(2, 0), 'back')).toBe('back')
  })
})

describe('the cluster report', () => {
  it('draws the fault timeline, latency and availability from the history', () => {
    const events: HistoryEvent[] = [
      ev(0, 10, { process: 0, type: 'invoke', f: 'write', key: 'k/0', value: '0-0', node: 'node1' }),
      ev(1, 30, { process: 0, type: 'ok', f: 'write', key: 'k/0', value: '0-0', node: 'node1' }),
      ev(2, 1200, { process: 'nemesis', type: 'info', f: 'kill', value: ['node2'] }),
      ev(3, 1300, { process: 1, type: 'invoke', f: 'read', key: 'k/0', value: null, node: 'node2' }),
      ev(4, 1301, { process: 1, type: 'fail', f: 'read', key: 'k/0', node: 'node2', error: 'ECONNREFUSED' }),
    ]
    expect(completions(events)).toEqual([
      { at: 10, latency: 20, type: 'ok', node: 'node1', f: 'write' },
      { at: 1300, latency: 1, type: 'fail', node: 'node2', f: 'read' },
    ])
    const html = renderClusterReport({
      protocol: 'raft',
      nodes: ['node1', 'node2'],
      seed: 1,
      nemeses: ['kill'],
      originEpochMs: 1_796_100_000_000,
      durationMs: 2000,
      command: 'synod-conformance --cluster',
      faults: ['1200–1800 ms: SIGKILL node2'],
      restartWaitsMs: [2412.5],
      checks: [{ checker: 'linearizability', verdict: 'ok', violations: [] }],
      verdict: 'ok',
      counts: { 'write ok': 1, 'read fail': 1 },
      livenessMs: { node1: 12, node2: null },
      record: {
        nodes: ['node1', 'node2'],
        correctNodes: ['node1', 'node2'],
        history: toOperations(events),
        commits: [],
        leaders: [{ node: 'node1', term: 1, at: 5 }],
        timeline: [{ at: 1200, node: 'node2', kind: 'crash', detail: 'SIGKILL' }, { at: 1800, node: 'node2', kind: 'restart', detail: 'restarted' }],
        healedAt: 1800,
        endedAt: 2000,
        acknowledgedCommands: new Map(),
        livenessBudgetMs: 0,
      },
      events,
    })
    expect(html).toContain('class="down-span"') // node2's SIGKILL on the timeline
    expect(html).toContain('class="leader-span"')
    expect(html).toContain('write via node1: ok after 20 ms') // a latency point
    expect(html).toContain('node2, second 1: 0/1 ok') // availability
    expect(html).toContain('node2: no write acknowledged')
    expect(html).toContain('waited until every node answered again (2413 ms)') // the kill-all restart waits
  })
})

describe('the link sampler', () => {
  it("reads a node's down links from its /metrics text, by member name", () => {
    const names = new Map([
      ['12D3KooWAAA', 'node2'],
      ['12D3KooWBBB', 'node3'],
    ])
    const metrics = [
      '# HELP synod_peer_connected 1 while an outbound stream to the member is open',
      '# TYPE synod_peer_connected gauge',
      'synod_peer_connected{peer="12D3KooWBBB"} 0',
      'synod_peer_connected{peer="12D3KooWAAA"} 1',
      'synod_peer_bytes_total{peer="12D3KooWBBB",direction="sent"} 12',
    ].join('\n')
    expect(linksDown(metrics, names)).toEqual(['node3'])
    expect(linksDown(metrics.replace('} 0', '} 1'), names)).toEqual([])
    expect(linksDown(metrics.replace('{peer="12D3KooWBBB"} 0', '{peer="12D3KooWCCC"} 0'), names)).toEqual(['12D3KooWCCC'])
    // Not a synod node's metrics (or a single-node cluster): nothing to record.
    expect(linksDown('process_cpu_seconds_total 1', names)).toBeUndefined()
  })
})
