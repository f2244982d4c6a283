// Simulator throughput: scheduled events and simulated deliveries per second
// of real time, against a plain array-of-closures loop measured in the same run.
import { against, opsPerSecond, report } from '@synod/bench-kit'
import { Simulation } from '../src/index.js'

const EVENTS = 20_000

const baseline = await opsPerSecond(async () => {
  const queue: Array<() => void> = []
  let count = 0
  for (let i = 0; i < EVENTS; i++) queue.push(() => count++)
  for (const run of queue) {
    run()
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}, EVENTS)

const scheduled = await opsPerSecond(async () => {
  const sim = new Simulation({ seed: 1 })
  let count = 0
  for (let i = 0; i < EVENTS; i++) sim.schedule(i % 100, () => count++)
  await sim.runFor(200)
}, EVENTS)

const deliveries = await opsPerSecond(async () => {
  const sim = new Simulation({ seed: 2 })
  const a = sim.network.endpoint('a')
  const b = sim.network.endpoint('b')
  let received = 0
  b.onMessage(() => received++)
  await a.start()
  await b.start()
  const payload = new Uint8Array(100)
  for (let i = 0; i < EVENTS; i++) sim.schedule(i % 100, () => a.send('b', payload))
  await sim.runFor(1000)
}, EVENTS)

const base = { name: 'closure-loop+setImmediate', value: baseline, unit: 'events/s', params: { events: EVENTS } }
report('@synod/transport-memory', [
  base,
  against({ name: 'simulation-events', value: scheduled, unit: 'events/s', params: { events: EVENTS } }, base),
  against({ name: 'simulated-deliveries-100B', value: deliveries / 2, unit: 'msgs/s', params: { messages: EVENTS, note: 'send event + delivery event' } }, base),
])
