/** Entry payloads the crash test can verify from the index alone: 1–2000 bytes. */
export function expectedEntryData(index: number): Uint8Array {
  const data = new Uint8Array(8 + ((index * 7919) % 1993))
  new DataView(data.buffer).setFloat64(0, index, true)
  data.fill(index & 0xff, 8)
  return data
}

/** Snapshot payloads the crash test can verify from the index alone: 64 KiB, written in chunks by a streamed snapshot. */
export function expectedSnapshotData(index: number): Uint8Array {
  const data = new Uint8Array(64 * 1024)
  for (let i = 0; i < data.byteLength; i++) data[i] = (index * 31 + i * 7) & 0xff
  return data
}
