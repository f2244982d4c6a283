import { ConfigError, NotLeaderError, ProposalDroppedError, type Membership, type MembershipChange, type SynodError } from '@synod/core'
import { applyMembershipChange } from './configuration.js'

/** What the leader's state says about a requested change. */
export interface ChangeState {
  readonly leader: boolean
  readonly leaderHint: string | undefined
  /** A configuration is queued, proposed and not chosen, or being prepared (ADR 0014: one at a time). */
  readonly pending: boolean
  readonly transferring: boolean
  readonly current: Membership
}

/**
 * Check a `reconfigure` request against the leader's state: the next
 * membership to propose as one configuration value, or the error to answer
 * (NotLeaderError off the leader, ProposalDroppedError while another change or
 * a transfer is under way, ConfigError for a change that makes no sense).
 */
export function prepareMembershipChange(change: MembershipChange, state: ChangeState): Membership | SynodError {
  if (!state.leader) return new NotLeaderError(state.leaderHint)
  if (state.transferring) return new ProposalDroppedError('leadership transfer in progress')
  if (state.pending) return new ProposalDroppedError('another membership change is pending')
  try {
    return applyMembershipChange(state.current, change)
  } catch (error) {
    if (error instanceof ConfigError) return error
    return new ConfigError(`malformed membership change (${(error as Error).message})`, 'change')
  }
}
