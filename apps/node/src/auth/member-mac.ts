// A member vouching for a client when it forwards the client's request to
// the leader: an HMAC-SHA256 under the pairwise key the two members share
// (`sharedMacKey`: x25519 of their ed25519 node keys + HKDF), over the same
// statement a client signs, with the member as the "client". It replaced a
// member signature per forwarded request (an ed25519 sign and verify).
import { clientRequestStatement, fromHex, MAX_CLIENT_SESSION, toHex } from '@synod/core'
import { hmacSha256Key, type KeyedMac, publicKeyFromSecret, sharedMacKey } from '@synod/crypto'

export const MEMBER_HEADERS = {
  key: 'synod-member-key',
  session: 'synod-member-session',
  timestamp: 'synod-member-timestamp',
  mac: 'synod-member-mac',
} as const

/** Pairwise MAC keys of this node, derived once per peer. */
export class MemberMacKeys {
  readonly publicKey: Uint8Array
  readonly publicKeyHex: string
  private readonly keys = new Map<string, Uint8Array>()
  private readonly macs = new Map<string, KeyedMac>()
  /** Forwards of this process are numbered: (session, timestamp) stays unique for the leader's replay cache. */
  private counter = 0

  constructor(private readonly secretKey: Uint8Array) {
    this.publicKey = publicKeyFromSecret(secretKey)
    this.publicKeyHex = toHex(this.publicKey)
  }

  /** The key shared with the member whose ed25519 public key is `peerHex`. */
  keyFor(peerHex: string): Uint8Array {
    let key = this.keys.get(peerHex)
    if (key === undefined) {
      key = sharedMacKey(this.secretKey, fromHex(peerHex))
      if (this.keys.size >= 4096) this.keys.clear() // members come and go; never grow without bound
      this.keys.set(peerHex, key)
    }
    return key
  }

  /** HMAC-SHA256 under the key shared with `peerHex`, prepared once per peer. */
  macFor(peerHex: string): KeyedMac {
    let mac = this.macs.get(peerHex)
    if (mac === undefined) {
      mac = hmacSha256Key(this.keyFor(peerHex))
      if (this.macs.size >= 4096) this.macs.clear()
      this.macs.set(peerHex, mac)
    }
    return mac
  }

  /** The member headers of one forwarded request (`operation` as the route's signed operation bytes). */
  headers(peerHex: string, operation: Uint8Array, cluster: string, now = Date.now()): Record<string, string> {
    const session = this.counter++ % (MAX_CLIENT_SESSION + 1)
    const statement = clientRequestStatement({ client: this.publicKey, session, timestamp: now, operation }, cluster, true)
    return {
      [MEMBER_HEADERS.key]: this.publicKeyHex,
      [MEMBER_HEADERS.session]: String(session),
      [MEMBER_HEADERS.timestamp]: String(now),
      [MEMBER_HEADERS.mac]: toHex(this.macFor(peerHex)(statement)),
    }
  }
}
