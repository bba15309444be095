import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BUCKETS, bucketOf, inCanary, murmur3 } from '../../src/core/cohort/hash.ts'

/** Deterministic UUID-like ids, so a statistical test fails only if the hash is bad. */
function ids(n: number, seed: number): string[] {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0).toString(16).padStart(8, '0')
  }
  return Array.from({ length: n }, () => `${next()}-${next().slice(0, 4)}-4${next().slice(0, 3)}-${next().slice(0, 4)}-${next()}${next().slice(0, 4)}`)
}

/** The z with P(Z > z) = p for a standard normal Z, by bisection on an erfc approximation. */
function zFor(p: number): number {
  const tail = (z: number) => {
    // Abramowitz-Stegun 7.1.26 (relative error small enough for bounds at 1e-6).
    const x = z / Math.SQRT2
    const t = 1 / (1 + 0.3275911 * x)
    return (t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))) * Math.exp(-x * x)) / 2
  }
  let lo = 0
  let hi = 10
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (tail(mid) > p) lo = mid
    else hi = mid
  }
  return lo
}

// A test that runs in CI on every commit should almost never fail by chance: one in a million.
const FALSE_ALARM = 1e-6

describe('murmur3', () => {
  it('matches the reference MurmurHash3_x86_32 vectors', () => {
    expect(murmur3('', 0)).toBe(0)
    expect(murmur3('', 1)).toBe(0x514e28b7)
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39)
    expect(murmur3('test', 0)).toBe(0xba6bd213)
    expect(murmur3('Hello, world!', 0)).toBe(0xc0363e43)
    expect(murmur3('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723)
    expect(murmur3('aaaa', 0x9747b28c)).toBe(0x5a97808a)
    expect(murmur3('abc', 0)).toBe(0xb3dd93fa)
  })

  it('hashes UTF-8 bytes, as other languages do (vectors from an independent implementation)', () => {
    expect(murmur3('ππ', 0)).toBe(0xb1719e07)
    expect(murmur3('héllo wörld 🎉', 0)).toBe(0xf40d4af7)
    // Longer than the reused scratch buffer.
    expect(murmur3('é'.repeat(500), 7)).toBe(murmur3('é'.repeat(500), 7))
    expect(murmur3('é'.repeat(500), 7)).not.toBe(murmur3('é'.repeat(499), 7))
  })

  it('always yields an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.nat(), (s, seed) => {
        const h = murmur3(s, seed)
        return Number.isInteger(h) && h >= 0 && h <= 0xffffffff
      }),
    )
  })
})

describe('bucketing', () => {
  it('puts every id in one of 10,000 buckets, deterministically', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (salt, id) => {
        const b = bucketOf(salt, id)
        return Number.isInteger(b) && b >= 0 && b < BUCKETS && b === bucketOf(salt, id)
      }),
    )
  })

  it('is monotonic: raising the weight only moves visitors stable -> canary, lowering only canary -> stable', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.integer({ min: 0, max: BUCKETS }), fc.integer({ min: 0, max: BUCKETS }), (salt, id, w1, w2) => {
        const [lo, hi] = w1 <= w2 ? [w1, w2] : [w2, w1]
        const b = bucketOf(salt, id)
        // canary at the lower weight implies canary at the higher one (no one moves back when widening)
        return !inCanary(b, lo) || inCanary(b, hi)
      }),
    )
  })

  it('gives everyone stable at 0 and canary at 100 %', () => {
    fc.assert(fc.property(fc.string(), (id) => !inCanary(bucketOf('s', id), 0) && inCanary(bucketOf('s', id), BUCKETS)))
  })

  const population = ids(100_000, 42)
  for (const weightBp of [100, 1000, 5000]) {
    it(`sends ${weightBp / 100} % of 100k random ids to the canary, within binomial sampling error`, () => {
      const n = population.length
      const canary = population.filter((id) => inCanary(bucketOf('checkout-v2', id), weightBp)).length
      const p = weightBp / BUCKETS
      const bound = zFor(FALSE_ALARM / 2) * Math.sqrt(n * p * (1 - p))
      expect(Math.abs(canary - n * p)).toBeLessThan(bound)
    })
  }

  it('spreads ids uniformly over buckets (chi-square over 100 equal ranges)', () => {
    const cells = new Array<number>(100).fill(0)
    for (const id of population) cells[Math.floor(bucketOf('salt', id) / 100)]!++
    const expected = population.length / 100
    const chi2 = cells.reduce((s, o) => s + (o - expected) ** 2 / expected, 0)
    // Wilson-Hilferty: chi2_k is approximately k (1 - 2/(9k) + z sqrt(2/(9k)))^3.
    const k = 99
    const critical = k * (1 - 2 / (9 * k) + zFor(FALSE_ALARM) * Math.sqrt(2 / (9 * k))) ** 3
    expect(chi2).toBeLessThan(critical)
  })

  it('gives an independent split for a different salt (2x2 chi-square test of independence)', () => {
    const weightBp = 5000
    const table = [0, 0, 0, 0]
    for (const id of population) {
      const a = inCanary(bucketOf('release-41', id), weightBp) ? 1 : 0
      const b = inCanary(bucketOf('release-42', id), weightBp) ? 1 : 0
      table[a * 2 + b]!++
    }
    const n = population.length
    const rows = [table[0]! + table[1]!, table[2]! + table[3]!]
    const cols = [table[0]! + table[2]!, table[1]! + table[3]!]
    let chi2 = 0
    for (let r = 0; r < 2; r++)
      for (let c = 0; c < 2; c++) {
        const e = (rows[r]! * cols[c]!) / n
        chi2 += (table[r * 2 + c]! - e) ** 2 / e
      }
    // One degree of freedom: chi2 = z^2.
    expect(chi2).toBeLessThan(zFor(FALSE_ALARM / 2) ** 2)
    // And the overlap is what independence predicts, not what identical salts give (50 %).
    expect(table[3]! / n).toBeGreaterThan(0.24)
    expect(table[3]! / n).toBeLessThan(0.26)
  })
})
