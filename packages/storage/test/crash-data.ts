/** Entry payloads the crash test can verify from the index alone: 1–2000 bytes. */
export function expectedEntryData(index: number): Uint8Array {
  const data = new Uint8Array(8 + ((index * 7919) % 1993))
  new DataView(data.buffer).setFloat64(0, index, true)
  data.fill(index & 0xff, 8)
  return data
}
