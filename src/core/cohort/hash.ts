/**
 * @module
 * MurmurHash3 (x86, 32-bit) over UTF-8, and the bucketing built on it.
 *
 * Why MurmurHash3: it is fast in JavaScript (32-bit multiplies via
 * `Math.imul`), its finaliser avalanches every input bit into the low bits that
 * `mod 10000` keeps (FNV-1a does not, so ids that differ only at the end cluster),
 * and it is specified byte-for-byte, so any other language can reproduce a
 * visitor's bucket from `salt:id`.
 */

export const BUCKETS = 10_000

const encoder = new TextEncoder()
// Reused across calls: the hot path hashes short ASCII strings and should not allocate.
let scratch = new Uint8Array(256)

/** MurmurHash3_x86_32 of the UTF-8 bytes of `input`, as an unsigned 32-bit integer. */
export function murmur3(input: string, seed = 0): number {
  if (input.length * 3 > scratch.length) scratch = new Uint8Array(input.length * 3)
  const bytes = scratch
  const len = encoder.encodeInto(input, bytes).written
  const c1 = 0xcc9e2d51
  const c2 = 0x1b873593
  let h = seed >>> 0
  const tail = len & ~3
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, c1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, c2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  switch (len & 3) {
    case 3:
      k ^= bytes[tail + 2]! << 16
    // falls through
    case 2:
      k ^= bytes[tail + 1]! << 8
    // falls through
    case 1:
      k ^= bytes[tail]!
      k = Math.imul(k, c1)
      k = (k << 15) | (k >>> 17)
      k = Math.imul(k, c2)
      h ^= k
  }
  return fmix32(h ^ len)
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The visitor's bucket, 0-9999, for this salt. */
export const bucketOf = (salt: string, id: string): number => murmur3(`${salt}:${id}`) % BUCKETS

/** Canary iff the bucket lies below the weight in basis points: raising the weight only ever adds buckets. */
export const inCanary = (bucket: number, weightBp: number): boolean => bucket < weightBp

/**
 * Whether a visitor is in the RUM sample (`rum.sampleRate`): by id, so a sampled visitor's whole session reports,
 * and on its own salt, so the sample says nothing about the cohort (the bucket's low end is the canary).
 */
export const inRumSample = (salt: string, id: string, rate: number): boolean => rate >= 1 || bucketOf(`${salt}/rum`, id) < Math.round(rate * BUCKETS)
