// The conformance suite: every shipped crash scenario, seeds 1..3 (SYNOD_CONFORMANCE_SEEDS=N for more).
// It fails until the protocol commits client commands: that is the point.
import { describeConformance } from '@synod/conformance/vitest'
import { paxos } from '../src/index.js'

describeConformance({ factory: paxos })
