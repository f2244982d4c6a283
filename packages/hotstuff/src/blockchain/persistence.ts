import { decodeCanonical, encodeCanonical, expectArray, expectBytes, expectRecord, type Storage } from '@synod/core'
import { decodeBlock, MAX_FETCH_BATCHES, type Block, type DecodeLimits, type Hash } from '../messages.js'
import { BLOCK_SLOTS } from '../options.js'

const KEY_COMMITTED = 'hotstuff/committed'
const committedSlot = (height: number) => `hotstuff/h/${height % BLOCK_SLOTS}`
const acceptedSlot = (view: number) => `hotstuff/v/${view % BLOCK_SLOTS}`

/**
 * Blocks on disk, as hard-state slots (the storage log wants contiguous
 * indexes, a block tree is not a log): every accepted block by view — before
 * this replica votes for it, so a QC implies 2f+1 replicas hold the block —
 * and every committed block by height, plus a marker of the last committed
 * block. A snapshot every `snapshotInterval` committed blocks (< half the
 * ring) keeps the committed blocks after it inside the ring, so a restart
 * re-executes them from the snapshot on. A slot holds the block with the
 * signed messages of the batches it orders (as far as they are here), so a
 * restarted replica can execute what it voted for or committed.
 */
export class BlockPersistence {
  constructor(private readonly storage: Storage) {}

  /** An accepted block, with its batches' messages (`batches` resolves what is here). */
  saveBlock(block: Block, batches: (block: Block) => Uint8Array[]): void {
    this.storage.setHardState(acceptedSlot(block.view), slot(block, batches(block)))
  }

  saveCommitted(path: readonly Block[], head: Block, batches: (block: Block) => Uint8Array[]): void {
    for (const block of path) this.storage.setHardState(committedSlot(block.height), slot(block, batches(block)))
    this.storage.setHardState(KEY_COMMITTED, encodeCanonical({ b: head.hash }))
  }

  committedMarker(): Hash | undefined {
    const bytes = this.storage.getHardState(KEY_COMMITTED)
    return bytes === undefined ? undefined : expectBytes(expectRecord(decodeCanonical(bytes), 'committed marker')['b'], 'committed block', 32)
  }

  /** Every stored block that still decodes (slots of older incarnations included; the block store sorts them out). */
  loadBlocks(limits: DecodeLimits): Array<{ block: Block; batches: Uint8Array[] }> {
    const out: Array<{ block: Block; batches: Uint8Array[] }> = []
    for (let slot = 0; slot < BLOCK_SLOTS; slot++) {
      for (const key of [`hotstuff/h/${slot}`, `hotstuff/v/${slot}`]) {
        const bytes = this.storage.getHardState(key)
        if (bytes === undefined) continue
        try {
          const r = expectRecord(decodeCanonical(bytes), 'block slot')
          out.push({
            block: decodeBlock(expectBytes(r['b'], 'block'), limits.maxBlockCommands),
            batches: expectArray(r['c'], 'block slot batches', MAX_FETCH_BATCHES).map((m) => expectBytes(m, 'batch message')),
          })
        } catch {
          // A torn or foreign slot: the block is fetched from peers if it is needed.
        }
      }
    }
    return out
  }

  snapshotMeta(block: Block): Uint8Array {
    return encodeCanonical({ b: block.bytes })
  }

  saveSnapshot(block: Block, index: number, data: Uint8Array): void {
    this.storage.saveSnapshot({ index, term: block.height, data, meta: this.snapshotMeta(block) })
  }

  /**
   * The stored snapshot: the committed block it was taken at, the command index and the state. `data` is
   * read when first used (a durable store reads it from its file), so a caller can decide on the block alone.
   */
  snapshot(limits: DecodeLimits): { readonly block: Block; readonly index: number; readonly data: Uint8Array } | undefined {
    const snapshot = this.storage.snapshot()
    if (snapshot === undefined) return undefined
    const bytes = expectBytes(expectRecord(decodeCanonical(snapshot.meta), 'snapshot meta')['b'], 'snapshot block')
    return {
      block: decodeBlock(bytes, limits.maxBlockCommands),
      index: snapshot.index,
      get data() {
        return snapshot.data
      },
    }
  }

  loadSnapshotRoot(limits: DecodeLimits): { block: Block; index: number } | undefined {
    return this.snapshot(limits)
  }
}

function slot(block: Block, batches: Uint8Array[]): Uint8Array {
  return encodeCanonical({ b: block.bytes, c: batches })
}
