/**
 * A plain Uint8Array view of the input (no copy). Buffer's `slice` shares
 * memory, so decoding a Buffer directly would leave stored values aliasing
 * the caller's buffer; the decoder copies out of a plain Uint8Array.
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array) || Object.getPrototypeOf(bytes) === Uint8Array.prototype) return bytes
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
