// Codec cost on a typical consensus message: canonical CBOR (what goes on the
// wire) against JSON (the baseline everyone knows), measured in the same run.
import { against, opsPerSecond, report } from '@synod/bench-kit'
import { decodeCanonical, encodeCanonical } from '../src/index.js'

const message = {
  type: 'append',
  term: 42,
  prevIndex: 1_000_000,
  prevTerm: 41,
  commit: 999_990,
  entries: Array.from({ length: 16 }, (_, i) => ({ index: 1_000_001 + i, term: 42, data: new Uint8Array(100).fill(i) })),
}
const jsonMessage = { ...message, entries: message.entries.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') })) }
const encoded = encodeCanonical(message)
const json = JSON.stringify(jsonMessage)
const N = 20_000

const jsonEncode = await opsPerSecond(() => {
  for (let i = 0; i < N; i++) JSON.stringify(jsonMessage)
}, N)
const cborEncode = await opsPerSecond(() => {
  for (let i = 0; i < N; i++) encodeCanonical(message)
}, N)
const jsonDecode = await opsPerSecond(() => {
  for (let i = 0; i < N; i++) JSON.parse(json)
}, N)
const cborDecode = await opsPerSecond(() => {
  for (let i = 0; i < N; i++) decodeCanonical(encoded)
}, N)

const params = { entries: 16, entryBytes: 100, cborBytes: encoded.byteLength, jsonBytes: json.length }
const jsonEnc = { name: 'json-encode', value: jsonEncode, unit: 'msg/s', params }
const jsonDec = { name: 'json-decode', value: jsonDecode, unit: 'msg/s', params }
report('@synod/core', [
  jsonEnc,
  against({ name: 'cbor-encode-canonical', value: cborEncode, unit: 'msg/s', params }, jsonEnc),
  jsonDec,
  against({ name: 'cbor-decode-strict', value: cborDecode, unit: 'msg/s', params }, jsonDec),
])
