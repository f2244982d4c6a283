// The views checker: a BFT replica more than one view above the view a quorum
// reached is stuck there alone (ADR 0010's bound for correct replicas).
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { checkViews, viewSpread } from '../../src/cluster/views.js'

const views = (entries: Record<string, number>) => new Map(Object.entries(entries))

describe('viewSpread', () => {
  it('rejects a replica alone several views above the quorum (the planted lone-escalation state)', () => {
    expect(viewSpread(views({ n1: 9, n2: 9, n3: 9, n4: 15 }), 3)).toEqual({ quorumView: 9, above: [['n4', 15]] })
    expect(viewSpread(views({ n1: 0, n2: 0, n3: 0, n4: 2 }), 3)).toEqual({ quorumView: 0, above: [['n4', 2]] })
  })

  it('rejects every replica above when fewer than a quorum climbed together', () => {
    expect(viewSpread(views({ n1: 4, n2: 4, n3: 1, n4: 1 }), 3)!.above).toEqual([
      ['n1', 4],
      ['n2', 4],
    ])
    // n = 7, quorum 5: three up at 6, four at 3.
    expect(viewSpread(views({ a: 6, b: 6, c: 6, d: 3, e: 3, f: 3, g: 3 }), 5)!.above.map(([n]) => n)).toEqual(['a', 'b', 'c'])
  })

  it('accepts one view above (a replica that timed out alone waits there by design) and anyone below', () => {
    expect(viewSpread(views({ n1: 9, n2: 9, n3: 9, n4: 10 }), 3)).toEqual({ quorumView: 9, above: [] })
    expect(viewSpread(views({ n1: 9, n2: 9, n3: 9, n4: 2 }), 3)).toEqual({ quorumView: 9, above: [] })
    expect(viewSpread(views({ n1: 5, n2: 5, n3: 6, n4: 6 }), 3)).toEqual({ quorumView: 5, above: [] })
  })

  it('cannot judge with fewer views than a quorum, and refuses a nonsensical quorum', () => {
    expect(viewSpread(views({ n1: 9, n2: 30 }), 3)).toBeUndefined()
    expect(() => viewSpread(views({ n1: 1 }), 0)).toThrow(RangeError)
    expect(() => viewSpread(views({ n1: 1 }), 1.5)).toThrow(RangeError)
  })
})

describe('checkViews against stand-in nodes', () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
  })

  /** A stand-in node whose /v1/status reports `view()` as its term. */
  async function node(name: string, view: () => number | undefined) {
    const server = createServer((req, res) => {
      const term = view()
      if (req.url !== '/v1/status' || term === undefined) return void res.writeHead(503).end()
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ term, role: 'replica' }))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    servers.push(server)
    return { name, http: `127.0.0.1:${(server.address() as AddressInfo).port}` }
  }

  it('fails a replica that stays alone far above the others for the whole budget', async () => {
    const nodes = [await node('n1', () => 3), await node('n2', () => 3), await node('n3', () => 3), await node('n4', () => 8)]
    const result = await checkViews(nodes, 3, 1000, 1200)
    expect(result.verdict).toBe('violation')
    expect(result.violations.map((v) => v.message)).toEqual([expect.stringMatching(/^n4 stayed in view 8, 5 above view 3/)])
  })

  it('passes once the others reach it within the budget (a view change that was under way)', async () => {
    const started = Date.now()
    const others = () => (Date.now() - started < 400 ? 3 : 8)
    const nodes = [await node('n1', others), await node('n2', others), await node('n3', others), await node('n4', () => 8)]
    const result = await checkViews(nodes, 3, 1000, 10_000)
    expect(result.verdict).toBe('ok')
    expect(result.note).toBe('views n1 8, n2 8, n3 8, n4 8')
  })

  it('is unknown when too few nodes answer', async () => {
    const nodes = [await node('n1', () => 3), await node('n2', () => undefined), await node('n3', () => undefined), await node('n4', () => 3)]
    const result = await checkViews(nodes, 3, 500, 700)
    expect(result.verdict).toBe('unknown')
  })
})
