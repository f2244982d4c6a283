// `synod status --all`: rows from each member's own status; a member that does not answer is a 'down' row
// (with the reason), lag is measured against the highest commit index any member reported.
import { describe, expect, it } from 'vitest'
import { clusterStatus, formatClusterStatus } from '../src/cluster-status.js'

const members = [
  { id: 'node-a', http: '127.0.0.1:1' },
  { id: 'node-b', http: '127.0.0.1:2' },
  { id: 'node-c', http: '127.0.0.1:3' },
]
const statuses: Record<string, Record<string, unknown>> = {
  '127.0.0.1:1': { id: 'node-a', role: 'leader', term: 4, leader: 'node-a', commitIndex: 120, appliedIndex: 120, members, learners: ['node-d'] },
  '127.0.0.1:2': { id: 'node-b', role: 'follower', term: 4, leader: 'node-a', commitIndex: 118, appliedIndex: 100, members, learners: ['node-d'] },
}
const statusOf = async (http: string) => {
  const s = statuses[http]
  if (s === undefined) throw new Error(`connect ECONNREFUSED ${http}`)
  return s
}

describe('clusterStatus', () => {
  it('has one row per voter and learner; the silent member is down with its error, lag is against the highest commit', async () => {
    const rows = await clusterStatus('127.0.0.1:2', statusOf)
    expect(rows).toEqual([
      { id: 'node-a', http: '127.0.0.1:1', up: true, role: 'leader', term: 4, leader: true, commitIndex: 120, appliedIndex: 120, lag: 0 },
      { id: 'node-b', http: '127.0.0.1:2', up: true, role: 'follower', term: 4, leader: false, commitIndex: 118, appliedIndex: 100, lag: 20 },
      { id: 'node-c', http: '127.0.0.1:3', up: false, error: 'connect ECONNREFUSED 127.0.0.1:3' },
      { id: 'node-d', http: null, up: false, error: 'no HTTP address known' },
    ])
    const table = formatClusterStatus(rows)
    expect(table).toMatch(/^MEMBER\s+HTTP\s+STATE\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\n/)
    expect(table).toMatch(/node-a\s+127\.0\.0\.1:1\s+up\s+leader \*\s+4\s+120\s+120\s+0/)
    expect(table).toMatch(/down:\n {2}node-c: connect ECONNREFUSED/)
  })

  it('fails when the node it asks first does not answer (nothing to list)', async () => {
    await expect(clusterStatus('127.0.0.1:3', statusOf)).rejects.toThrow(/ECONNREFUSED/)
  })
})
