// Dogfood the vitest entry point as a protocol package would.
import { fixedLeaderToy } from '../src/toys/index.js'
import { describeConformance } from '../src/vitest.js'

describeConformance({
  factory: fixedLeaderToy,
  seeds: [7],
  scenarios: ['steady-state', 'lossy-network', 'crash-all-and-restart'],
})
