// Apply throughput and snapshot cost of the KV state machine, against a plain
// JS Map measured in the same run (the floor any state machine pays).
import { against, median, opsPerSecond, report, type BenchResult } from '@synod/bench-kit'
import { KvStateMachine, kvCommands } from '../src/index.js'

const VALUE_BYTES = 100
const KEYS = 10_000
const SNAPSHOT_KEYS = 100_000
const value = new Uint8Array(VALUE_BYTES).fill(7)
const keys = Array.from({ length: KEYS }, (_, i) => `key/${i}`)
const params = { valueBytes: VALUE_BYTES, keys: KEYS }
const results: BenchResult[] = []

// Commands are encoded up front: the replica receives them as bytes.
const puts = keys.map((k) => kvCommands.put(k, value))
const sessionPuts = keys.map((k, i) => kvCommands.put(k, value, { client: `client-${i % 100}`, seq: i }))
const gets = keys.map((k) => kvCommands.get(k))

const map = new Map<string, Uint8Array>()
const mapSet = { name: 'Map.set (baseline)', value: await opsPerSecond(() => keys.forEach((k) => map.set(k, value)), KEYS), unit: 'ops/s', params }
const mapGet = { name: 'Map.get (baseline)', value: await opsPerSecond(() => keys.forEach((k) => map.get(k)), KEYS), unit: 'ops/s', params }

const kv = new KvStateMachine()
let index = 0
const put: BenchResult = { name: 'apply put', value: await opsPerSecond(() => puts.forEach((c) => kv.apply(c, ++index)), KEYS), unit: 'ops/s', params }
const sessionKv = new KvStateMachine()
let sessionRound = 0
const sessionPut: BenchResult = {
  name: 'apply put with session',
  // Fresh sequence numbers each round, so every command really applies.
  value: await opsPerSecond(() => {
    sessionRound++
    sessionPuts.forEach((_, i) => sessionKv.apply(kvCommands.put(keys[i]!, value, { client: `client-${i % 100}`, seq: sessionRound * KEYS + i }), ++index))
  }, KEYS),
  unit: 'ops/s',
  params: { ...params, note: 'includes encoding the command' },
}
const get: BenchResult = { name: 'apply get', value: await opsPerSecond(() => gets.forEach((c) => kv.apply(c, ++index)), KEYS), unit: 'ops/s', params }
const query: BenchResult = { name: 'query get', value: await opsPerSecond(() => gets.forEach((c) => kv.query(c)), KEYS), unit: 'ops/s', params }
const encodePut: BenchResult = {
  name: 'kvCommands.put (encode only)',
  value: await opsPerSecond(() => keys.forEach((k) => kvCommands.put(k, value)), KEYS),
  unit: 'ops/s',
  params,
}
results.push(mapSet, against(put, mapSet), against(sessionPut, mapSet), encodePut, mapGet, against(get, mapGet), against(query, mapGet))

// Snapshot and restore of 100k keys.
const big = new KvStateMachine()
for (let i = 0; i < SNAPSHOT_KEYS; i++) big.apply(kvCommands.put(`key/${i}`, value), i + 1)
const snapshotTimes: number[] = []
const restoreTimes: number[] = []
let snapshot = big.snapshot()
for (let run = 0; run < 5; run++) {
  let start = performance.now()
  snapshot = big.snapshot()
  snapshotTimes.push(performance.now() - start)
  start = performance.now()
  new KvStateMachine().restore(snapshot)
  restoreTimes.push(performance.now() - start)
}
const mapCopyTimes: number[] = []
const plain = new Map<string, Uint8Array>()
for (let i = 0; i < SNAPSHOT_KEYS; i++) plain.set(`key/${i}`, value)
for (let run = 0; run < 5; run++) {
  const start = performance.now()
  new Map(plain)
  mapCopyTimes.push(performance.now() - start)
}
const snapParams = { keys: SNAPSHOT_KEYS, valueBytes: VALUE_BYTES }
const mapCopy: BenchResult = { name: 'new Map(100k) copy (baseline)', value: median(mapCopyTimes), unit: 'ms', params: snapParams }
results.push(
  mapCopy,
  against({ name: 'snapshot 100k keys', value: median(snapshotTimes), unit: 'ms', params: snapParams }, mapCopy),
  against({ name: 'restore 100k keys', value: median(restoreTimes), unit: 'ms', params: snapParams }, mapCopy),
  { name: 'snapshot size 100k keys', value: snapshot.byteLength / (1024 * 1024), unit: 'MiB', params: snapParams },
)

report('@synod/kv', results)
