/**
 * @module
 * A small, fast, seeded PRNG (sfc32) with the samplers the judge tests and the
 * traffic simulator need: uniform, normal, binomial, Poisson and log-normal.
 * Seeded runs make statistical tests reproducible: a run fails only if the
 * code changed, never by chance on CI.
 *
 * The discrete samplers are exact (not normal approximations) so simulated
 * error counts at 1 % rates have the right skew: BTRD for large binomials and
 * PTRS for large Poisson means (Hörmann 1993), inversion for small means.
 */

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI)

/** log(k!) - Stirling's approximation, for k = 0..9 (from exact factorials). */
const STIRLING_TAIL = Array.from({ length: 10 }, (_, k) => {
  let lf = 0
  for (let i = 2; i <= k; i++) lf += Math.log(i)
  return lf - ((k + 0.5) * Math.log(k + 1) - (k + 1) + LOG_SQRT_2PI)
})

/** The correction term fc(k) = log(k!) − [(k + ½)·log(k + 1) − (k + 1) + ½·log 2π] used by BTRD. */
function stirlingTail(k: number): number {
  if (k < 10) return STIRLING_TAIL[k]!
  const r = 1 / (k + 1)
  const r2 = r * r
  return (1 / 12 - (1 / 360 - (1 / 1260) * r2) * r2) * r
}

/** log(k!) for integers k ≥ 0. */
function logFactorial(k: number): number {
  return (k + 0.5) * Math.log(k + 1) - (k + 1) + LOG_SQRT_2PI + stirlingTail(k)
}

export class Random {
  private a: number
  private b: number
  private c: number
  private d: number
  private spareNormal = Number.NaN

  constructor(seed: number) {
    // splitmix32 spreads a small integer seed over sfc32's 128-bit state.
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
      return (z ^ (z >>> 15)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next()
    for (let i = 0; i < 12; i++) this.uint32()
  }

  /** A uniformly distributed 32-bit unsigned integer (sfc32). */
  uint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform on [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.uint32() / 4294967296
  }

  /** Uniform on (0, 1): safe to take the logarithm of. */
  private open(): number {
    return (this.uint32() + 0.5) / 4294967296
  }

  /** An integer uniform on [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box-Muller, caching the second variate). */
  normal(): number {
    if (!Number.isNaN(this.spareNormal)) {
      const z = this.spareNormal
      this.spareNormal = Number.NaN
      return z
    }
    const r = Math.sqrt(-2 * Math.log(this.open()))
    const t = 2 * Math.PI * this.uniform()
    this.spareNormal = r * Math.sin(t)
    return r * Math.cos(t)
  }

  /** Log-normal with the given median and 95th percentile (p95 > median > 0). */
  logNormal(median: number, p95: number): number {
    const sigma = Math.log(p95 / median) / 1.6448536269514722
    return median * Math.exp(sigma * this.normal())
  }

  /** Poisson(lambda): inversion below 10, PTRS transformed rejection above. */
  poisson(lambda: number): number {
    if (!(lambda > 0)) return 0
    if (lambda < 10) {
      // Sequential search on the cdf; expected lambda + 1 steps.
      let k = 0
      let p = Math.exp(-lambda)
      let cdf = p
      const u = this.uniform()
      while (u > cdf && k < 1000) {
        k++
        p *= lambda / k
        cdf += p
      }
      return k
    }
    const slam = Math.sqrt(lambda)
    const loglam = Math.log(lambda)
    const b = 0.931 + 2.53 * slam
    const a = -0.059 + 0.02483 * b
    const invalpha = 1.1239 + 1.1328 / (b - 3.4)
    const vr = 0.9277 - 3.6224 / (b - 2)
    for (;;) {
      const u = this.uniform() - 0.5
      const v = this.open()
      const us = 0.5 - Math.abs(u)
      const k = Math.floor(((2 * a) / us + b) * u + lambda + 0.43)
      if (us >= 0.07 && v <= vr) return k
      if (k < 0 || (us < 0.013 && v > us)) continue
      if (Math.log(v) + Math.log(invalpha) - Math.log(a / (us * us) + b) <= -lambda + k * loglam - logFactorial(k)) return k
    }
  }

  /** Binomial(n, p), exact: inversion when n·min(p, 1−p) < 10, BTRD otherwise. */
  binomial(n: number, p: number): number {
    n = Math.floor(n)
    if (n <= 0 || !(p > 0)) return 0
    if (p >= 1) return n
    if (p > 0.5) return n - this.binomial(n, 1 - p)
    if (n * p < 10) return this.binomialInversion(n, p)
    return this.btrd(n, p)
  }

  private binomialInversion(n: number, p: number): number {
    const q = 1 - p
    const s = p / q
    let f = Math.exp(n * Math.log1p(-p))
    let u = this.uniform()
    let k = 0
    // Walk the pmf; the bound on k guards against rounding leaving u just above the total mass.
    while (u > f && k < n) {
      u -= f
      f *= (s * (n - k)) / (k + 1)
      k++
    }
    return k
  }

  /** Hörmann's BTRD (transformed rejection with decomposition), for n·p ≥ 10 and p ≤ ½. */
  private btrd(n: number, p: number): number {
    const q = 1 - p
    const m = Math.floor((n + 1) * p)
    const r = p / q
    const nr = (n + 1) * r
    const npq = n * p * q
    const sqrtNpq = Math.sqrt(npq)
    const b = 1.15 + 2.53 * sqrtNpq
    const a = -0.0873 + 0.0248 * b + 0.01 * p
    const c = n * p + 0.5
    const alpha = (2.83 + 5.1 / b) * sqrtNpq
    const vr = 0.92 - 4.2 / b
    const urvr = 0.86 * vr
    for (;;) {
      let v = this.uniform()
      let u: number
      if (v <= urvr) {
        u = v / vr - 0.43
        return Math.floor(((2 * a) / (0.5 - Math.abs(u)) + b) * u + c)
      }
      if (v >= vr) {
        u = this.uniform() - 0.5
      } else {
        u = v / vr - 0.93
        u = Math.sign(u) * 0.5 - u
        v = this.uniform() * vr
      }
      const us = 0.5 - Math.abs(u)
      const k = Math.floor(((2 * a) / us + b) * u + c)
      if (k < 0 || k > n) continue
      v = (v * alpha) / (a / (us * us) + b)
      const km = Math.abs(k - m)
      if (km <= 15) {
        // Recursive evaluation of f(k)/f(m).
        let f = 1
        if (m < k) {
          for (let i = m + 1; i <= k; i++) f *= nr / i - r
        } else if (m > k) {
          for (let i = k + 1; i <= m; i++) v *= nr / i - r
        }
        if (v <= f) return k
        continue
      }
      // Squeeze on log v before the full Stirling evaluation.
      const lv = Math.log(v)
      const rho = (km / npq) * (((km / 3 + 0.625) * km + 1 / 6) / npq + 0.5)
      const t = (-km * km) / (2 * npq)
      if (lv < t - rho) return k
      if (lv > t + rho) continue
      const nm = n - m + 1
      const h = (m + 0.5) * Math.log((m + 1) / (r * nm)) + stirlingTail(m) + stirlingTail(n - m)
      const nk = n - k + 1
      if (lv <= h + (n + 1) * Math.log(nm / nk) + (k + 0.5) * Math.log((nk * r) / (k + 1)) - stirlingTail(k) - stirlingTail(n - k)) return k
    }
  }
}

/** A seeded generator; the same seed always gives the same stream. */
export const seeded = (seed: number): Random => new Random(seed)
