import { describeConformance } from '@synod/conformance/vitest'
import { pbft } from '../src/index.js'

// The shared suite (crash and byzantine scenarios, KV linearizability) for n = 4.
// One seed keeps the package run near a minute; SYNOD_CONFORMANCE_SEEDS=N runs more.
describeConformance({
  factory: pbft,
  nodes: 4,
  protocolOptions: { viewChangeTimeoutMs: 300, requestRetransmitMs: 150, statusIntervalMs: 300 },
  ...(process.env['SYNOD_CONFORMANCE_SEEDS'] === undefined ? { seeds: [1] } : {}),
})
