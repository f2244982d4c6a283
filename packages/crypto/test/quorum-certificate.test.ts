import { byzantineQuorum, encodeCanonical, InvalidMessageError, membership, utf8 } from '@synod/core'
import { describe, expect, it } from 'vitest'
import {
  createSigner,
  createVerifier,
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  keyPairFromSecret,
  sha256,
  verifyQuorumCertificate,
  type QuorumCertificate,
} from '../src/index.js'

const ids = ['n1', 'n2', 'n3', 'n4']
const keys = ids.map((_, i) => keyPairFromSecret(new Uint8Array(32).fill(i + 1)))
const signers = keys.map((k) => createSigner(k))
const members = membership(
  ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey })),
  [{ id: 'learner', publicKey: keyPairFromSecret(new Uint8Array(32).fill(50)).publicKey }],
)
const outsider = createSigner(new Uint8Array(32).fill(99))
const learnerSigner = createSigner(new Uint8Array(32).fill(50))
const quorum = byzantineQuorum(ids.length) // 3
const verifier = createVerifier()
const digest = sha256(encodeCanonical({ type: 'commit', view: 1, seq: 7 }))

function signedBy(indexes: number[], over = digest): QuorumCertificate {
  return { digest: over, signatures: indexes.map((i) => ({ signer: ids[i]!, signature: signers[i]!.sign(over) })) }
}

const options = { membership: members, quorum, verifier, expectedDigest: digest }

describe('verifyQuorumCertificate', () => {
  it('accepts a quorum of distinct voters over the expected digest', () => {
    expect(verifyQuorumCertificate(signedBy([0, 1, 2]), options)).toEqual({ ok: true })
    expect(verifyQuorumCertificate(signedBy([3, 1, 0, 2]), options)).toEqual({ ok: true })
    const { expectedDigest: _, ...withoutDigest } = options
    expect(verifyQuorumCertificate(signedBy([0, 1, 2]), withoutDigest)).toEqual({ ok: true })
  })

  it('rejects a duplicate signer even when the signature is valid', () => {
    const qc = signedBy([0, 1, 1])
    expect(verifyQuorumCertificate(qc, options)).toMatchObject({ ok: false, rejection: 'duplicate-signer' })
  })

  it('rejects a non-member and a learner', () => {
    const outsiderQc: QuorumCertificate = {
      digest,
      signatures: [...signedBy([0, 1]).signatures, { signer: 'mallory', signature: outsider.sign(digest) }],
    }
    expect(verifyQuorumCertificate(outsiderQc, options)).toMatchObject({ ok: false, rejection: 'not-a-voter' })
    const learnerQc: QuorumCertificate = {
      digest,
      signatures: [...signedBy([0, 1]).signatures, { signer: 'learner', signature: learnerSigner.sign(digest) }],
    }
    expect(verifyQuorumCertificate(learnerQc, options)).toMatchObject({ ok: false, rejection: 'not-a-voter' })
  })

  it('rejects too few signers, and an empty certificate whatever the quorum', () => {
    expect(verifyQuorumCertificate(signedBy([0, 1]), options)).toMatchObject({ ok: false, rejection: 'too-few-signers' })
    expect(verifyQuorumCertificate(signedBy([]), { ...options, quorum: 0 })).toMatchObject({ ok: false, rejection: 'too-few-signers' })
  })

  it('rejects a certificate over another digest', () => {
    const other = sha256(utf8('another vote'))
    expect(verifyQuorumCertificate(signedBy([0, 1, 2], other), options)).toMatchObject({ ok: false, rejection: 'wrong-digest' })
  })

  it('rejects any bad signature', () => {
    const qc = signedBy([0, 1, 2])
    const tampered = Uint8Array.from(qc.signatures[2]!.signature)
    tampered[10]! ^= 1
    const bad: QuorumCertificate = { digest, signatures: [qc.signatures[0]!, qc.signatures[1]!, { signer: 'n3', signature: tampered }] }
    expect(verifyQuorumCertificate(bad, options)).toMatchObject({ ok: false, rejection: 'bad-signature', reason: expect.stringContaining('n3') })
    // A valid signature by the wrong member (n4 signs, claims n3).
    const swapped: QuorumCertificate = { digest, signatures: [qc.signatures[0]!, qc.signatures[1]!, { signer: 'n3', signature: signers[3]!.sign(digest) }] }
    expect(verifyQuorumCertificate(swapped, options)).toMatchObject({ ok: false, rejection: 'bad-signature' })
  })
})

describe('quorum certificate codec', () => {
  it('round-trips and is canonical regardless of signature order', () => {
    const a = encodeQuorumCertificate(signedBy([2, 0, 1]))
    const b = encodeQuorumCertificate(signedBy([0, 1, 2]))
    expect(a).toEqual(b)
    const decoded = decodeQuorumCertificate(a)
    expect(decoded.signatures.map((s) => s.signer)).toEqual(['n1', 'n2', 'n3'])
    expect(verifyQuorumCertificate(decoded, options)).toEqual({ ok: true })
  })

  const sig = new Uint8Array(64)
  const malformed: Array<[string, unknown]> = [
    ['a non-map', [digest]],
    ['an unknown field', { digest, signatures: [], extra: 1 }],
    ['a missing digest', { signatures: [] }],
    ['an empty digest', { digest: new Uint8Array(0), signatures: [] }],
    ['an oversized digest', { digest: new Uint8Array(65), signatures: [] }],
    ['signatures not an array', { digest, signatures: {} }],
    ['a short signature', { digest, signatures: [{ signer: 'n1', signature: new Uint8Array(63) }] }],
    ['a long signature', { digest, signatures: [{ signer: 'n1', signature: new Uint8Array(65) }] }],
    ['a numeric signer', { digest, signatures: [{ signer: 1, signature: sig }] }],
    ['an extra signature field', { digest, signatures: [{ signer: 'n1', signature: sig, view: 2 }] }],
    ['unsorted signers', { digest, signatures: [{ signer: 'n2', signature: sig }, { signer: 'n1', signature: sig }] }],
    ['duplicate signers', { digest, signatures: [{ signer: 'n1', signature: sig }, { signer: 'n1', signature: sig }] }],
    ['too many signatures', { digest, signatures: Array.from({ length: 1025 }, (_, i) => ({ signer: `n${String(i).padStart(4, '0')}`, signature: sig })) }],
  ]
  it.each(malformed)('rejects %s with InvalidMessageError', (_, value) => {
    expect(() => decodeQuorumCertificate(encodeCanonical(value))).toThrow(InvalidMessageError)
  })

  it('rejects garbage bytes with InvalidMessageError', () => {
    expect(() => decodeQuorumCertificate(new Uint8Array([0xff, 0x00, 0x13]))).toThrow(InvalidMessageError)
    expect(() => decodeQuorumCertificate(new Uint8Array(0))).toThrow(InvalidMessageError)
  })
})
