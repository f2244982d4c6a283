import { describe, expect, it } from 'vitest'
import { LeaderLease } from '../src/leader-lease.js'

describe('LeaderLease (dissertation §6.4.1)', () => {
  it('has no lease before a quorum acknowledged a round; then it runs from the round\'s send time', () => {
    const lease = new LeaderLease(900)
    lease.sent(1, 100)
    expect(lease.valid(150)).toBe(false)
    lease.acknowledged(1)
    expect(lease.valid(999)).toBe(true)
    expect(lease.valid(1000)).toBe(false) // 100 + 900: from the send time, not from the acknowledgement
    expect(lease.expiry()).toBe(1000)
  })

  it('counts the earliest send of a round, and an acknowledgement of a later round covers the earlier ones', () => {
    const lease = new LeaderLease(900)
    lease.sent(1, 100)
    lease.sent(1, 200) // a resend of round 1 does not move its send time
    lease.sent(2, 300)
    lease.acknowledged(2)
    expect(lease.expiry()).toBe(1200)
    lease.acknowledged(1) // late: nothing pending any more
    expect(lease.expiry()).toBe(1200)
  })

  it('a transfer revokes it for the rest of the leadership; a new leadership starts without one', () => {
    const lease = new LeaderLease(900)
    lease.sent(1, 0)
    lease.acknowledged(1)
    lease.revoke()
    expect(lease.valid(10)).toBe(false)
    lease.sent(2, 20)
    lease.acknowledged(2)
    expect(lease.valid(30)).toBe(false)
    lease.reset()
    expect(lease.valid(40)).toBe(false)
    lease.sent(3, 50)
    lease.acknowledged(3)
    expect(lease.valid(60)).toBe(true)
  })

  it('the test switches remove exactly their rule', () => {
    const switches = { leaseWithoutAcknowledgement: false, keepLeaseDuringTransfer: false }
    const lease = new LeaderLease(900, switches)
    switches.leaseWithoutAcknowledgement = true
    expect(lease.valid(0)).toBe(true)
    switches.leaseWithoutAcknowledgement = false
    lease.sent(1, 0)
    lease.acknowledged(1)
    switches.keepLeaseDuringTransfer = true
    lease.revoke()
    expect(lease.valid(10)).toBe(true)
  })
})
