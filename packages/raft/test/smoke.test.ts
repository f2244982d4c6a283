import { describe, expect, it } from 'vitest'
import { TestCluster } from './helpers/cluster.js'

describe('smoke', () => {
  it('elects a leader and commits on every node', () => {
    const c = new TestCluster(['a', 'b', 'c'])
    c.startAll()
    const leader = c.waitForLeader()
    const ids = [1, 2, 3].map((i) => c.propose(leader, `cmd${i}`))
    c.tick(100)
    for (const id of ids) expect(c.outcomes.get(id)?.kind).toBe('committed')
    for (const n of ['a', 'b', 'c']) expect(c.appliedCommands(n)).toEqual(['cmd1', 'cmd2', 'cmd3'])
  })
})
