// CRC-32C (Castagnoli) over a snapshot's bytes, computed as a running value so
// that both sides work through the data once, chunk by chunk, in step with the
// transfer: the leader extends it as it first sends each chunk, the follower as
// it takes each chunk in. Pure TypeScript (the protocol stays browser-safe and
// deterministic); it detects corruption, not forgery — peers are trusted in
// Raft's crash model and the transport authenticates them.

const TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

/** The CRC-32C of the bytes before `bytes` (0 for none) extended over `bytes`. */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous
  const table = TABLE
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}
