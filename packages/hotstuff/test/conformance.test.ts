import { byzantineScenarios, crashScenarios, type Scenario } from '@synod/conformance'
import { describeConformance } from '@synod/conformance/vitest'
import { describe } from 'vitest'
import { hotstuff } from '../src/index.js'

const timing = { viewTimeoutMs: 300, retransmitMs: 150 }
const seeds = process.env['SYNOD_CONFORMANCE_SEEDS'] === undefined ? { seeds: [1] } : {}

// The shared suite (crash and byzantine scenarios, KV linearizability) at n = 4.
describeConformance({ factory: hotstuff, nodes: 4, protocolOptions: timing, ...seeds })
