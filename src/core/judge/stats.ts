/**
 * @module
 * Small, dependency-free numerics for the canary judge: tail probabilities of
 * the normal, chi-square(1) and binomial distributions, exact binomial
 * confidence bounds, and the per-window log likelihood ratio of the mixture
 * sequential test. Everything is pure and deterministic.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
]

/** log Γ(x) for x > 0 (Lanczos, g = 7; ~15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const y = x - 1
  let a = LANCZOS[0]!
  const t = y + 7.5
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (y + i)
  return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a)
}

/** Continued fraction for the incomplete beta (modified Lentz); converges fast for x < (a+1)/(a+b+2). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300
  const qab = a + b
  const qap = a + 1
  const qam = a - 1
  let c = 1
  let d = 1 - (qab * x) / qap
  if (Math.abs(d) < tiny) d = tiny
  d = 1 / d
  let h = d
  // Iterations grow like sqrt(max(a, b)); 100k covers counts far beyond one minute of any site's traffic.
  for (let m = 1; m <= 100_000; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    h *= d * c
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2))
    d = 1 + aa * d
    if (Math.abs(d) < tiny) d = tiny
    c = 1 + aa / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-15) break
  }
  return h
}

/** The regularised incomplete beta function I_x(a, b), a, b > 0. */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x)
  // Use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a) on whichever side the fraction converges.
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialSf(k: number, n: number, p: number): number {
  if (k <= 0) return 1
  if (k > n) return 0
  return incompleteBeta(p, k, n - k + 1)
}

/** P(X ≤ k) for X ~ Binomial(n, p). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0
  if (k >= n) return 1
  return incompleteBeta(1 - p, n - k, k + 1)
}

/**
 * Two-sided exact binomial test of X = k against Binomial(n, p0), by doubling
 * the smaller tail (conservative, and cheap compared with summing the pmf).
 */
export function binomialTestTwoSided(k: number, n: number, p0: number): number {
  if (n <= 0) return 1
  return Math.min(1, 2 * Math.min(binomialCdf(k, n, p0), binomialSf(k, n, p0)))
}

/**
 * One-sided Clopper-Pearson lower confidence bound for a binomial proportion:
 * the p at which P(X ≥ k | n, p) = alpha. Exact (never anti-conservative), which
 * matters at the tiny counts where a normal interval would raise false alarms.
 */
export function clopperPearsonLower(k: number, n: number, alpha: number): number {
  if (k <= 0 || n <= 0) return 0
  let lo = 0
  let hi = k / n
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2
    if (binomialSf(k, n, mid) < alpha) lo = mid
    else hi = mid
  }
  return lo
}

/** Chebyshev coefficients of erfc, highest order first after the leading 0.17087277 (Horner order). */
const ERFC_COEFFICIENTS = [-0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223]

/** erfc(x) with fractional error below 1.2e-7 everywhere (Numerical Recipes' Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  let poly = 0.17087277
  for (const c of ERFC_COEFFICIENTS) poly = c + t * poly
  const r = t * Math.exp(-z * z + poly)
  return x >= 0 ? r : 2 - r
}

/** P(Z > z) for a standard normal Z. */
export const normalSf = (z: number): number => 0.5 * erfc(z / Math.SQRT2)

/** P(X > x) for X ~ chi-square with one degree of freedom (X = Z²). */
export const chiSquare1Sf = (x: number): number => (x <= 0 ? 1 : erfc(Math.sqrt(x / 2)))

/** log(Σ wᵢ·exp(lᵢ)) without overflow; weights must be positive. */
export function logWeightedSumExp(logs: readonly number[], weights: readonly number[]): number {
  let max = -Infinity
  for (const l of logs) if (l > max) max = l
  if (max === -Infinity) return -Infinity
  let sum = 0
  for (let i = 0; i < logs.length; i++) sum += weights[i]! * Math.exp(logs[i]! - max)
  return max + Math.log(sum)
}

/**
 * One window's log likelihood ratio for relative risk theta, conditioned on
 * the window's total errors: under H0 each error is the canary's with
 * probability pi (its share of requests); under H1 with q = θπ/(θπ + 1 − π).
 *
 *   log LR = e_c·log(q/π) + e_s·log((1−q)/(1−π)) = e_c·log θ − (e_c + e_s)·log(1 + (θ − 1)π)
 *
 * The right-hand form avoids cancellation when π is tiny.
 */
export function windowLogLR(theta: number, pi: number, canaryErrors: number, stableErrors: number): number {
  return canaryErrors * Math.log(theta) - (canaryErrors + stableErrors) * Math.log1p((theta - 1) * pi)
}
