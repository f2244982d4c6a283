// The simulated network passes the same Transport compliance suite as the
// libp2p transport (packages/transport-libp2p/test/compliance.test.ts).
import { Simulation } from '@synod/transport-memory'
import { describeTransportCompliance } from '../src/vitest.js'

describeTransportCompliance('simulated network (@synod/transport-memory)', async () => {
  const simulation = new Simulation({ seed: 7 })
  const transports = ['a', 'b', 'c'].map((id) => simulation.network.endpoint(id))
  for (const transport of transports) await transport.start()
  return {
    transports,
    maxMessageBytes: 4 * 1024 * 1024,
    advance: (ms) => simulation.runFor(ms),
    async teardown() {
      for (const transport of transports) await transport.stop()
    },
  }
})
