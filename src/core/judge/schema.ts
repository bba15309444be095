/**
 * @module
 * Configuration of the canary judge (see judge.ts) and of the threshold
 * baseline (see threshold.ts). Every field has a default, so `z.parse(JudgeConfig, {})`
 * gives a complete, sensible configuration; the comments say why each default is what it is.
 */
import * as z from 'zod/mini'

const Probability = z.number().check(z.gt(0), z.lt(1))
const Count = z.int().check(z.gte(0), z.lte(Number.MAX_SAFE_INTEGER))

/** The default alternatives: relative risks from "a quarter worse" to "ten times worse", roughly log-spaced. */
export const DEFAULT_THETAS = [1.25, 1.5, 2, 3, 5, 10]

/**
 * The mixture of the sequential error test: relative risks θ > 1 (canary error
 * rate ÷ stable's) it bets on, and optional prior weights (uniform when omitted).
 * Each extra θ costs log(K) nats of evidence at worst, so a handful spanning the
 * regressions worth catching beats a fine grid.
 */
export const Mixture = z
  .object({
    thetas: z._default(z.array(z.number().check(z.gt(1), z.lte(1000))).check(z.minLength(1), z.maxLength(32)), DEFAULT_THETAS),
    weights: z.optional(z.array(z.number().check(z.gt(0), z.lte(1e9))).check(z.minLength(1), z.maxLength(32))),
  })
  .check(
    z.refine((m) => m.weights === undefined || m.weights.length === m.thetas.length, { message: 'weights must have one entry per theta' }),
    z.refine((m) => new Set(m.thetas).size === m.thetas.length, { message: 'thetas must be distinct' }),
  )

/** Latency guard: compares one quantile of the two cohorts within the same window. */
export const LatencyGuard = z.object({
  enabled: z._default(z.boolean(), true),
  quantile: z._default(z.enum(['p95', 'p99']), 'p95'),
  /** Canary ÷ stable above which a window counts as a regression. */
  maxRatio: z._default(z.number().check(z.gt(1), z.lte(100)), 1.5),
  /** …and the absolute difference must exceed this, so 4 ms vs 8 ms (2x) is not a regression. */
  minDeltaMs: z._default(z.number().check(z.gte(0), z.lte(600_000)), 50),
  /**
   * Requests each cohort needs in the window for its quantile to mean anything:
   * a p95 of 200 samples has a relative standard error of roughly 10 % for
   * typical web latencies, far inside a 1.5x ratio.
   */
  minRequests: z._default(z.int().check(z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)), 200),
  /** Regressed windows in a row (among windows where latency could be judged) before rolling back: one slow minute is noise. */
  consecutive: z._default(z.int().check(z.gte(1), z.lte(60)), 2),
})

/**
 * One Web Vital's guard: the canary's p75 must be worse than stable's by both the ratio and the margin. Margins
 * are set against web.dev's "good" thresholds (LCP 2500 ms, INP 200 ms, CLS 0.1; see `VITAL_THRESHOLDS`), so a change
 * too small to move a page's rating never counts.
 */
const vitalLimit = (maxRatio: number, minDelta: number, maxDelta: number) =>
  z.prefault(
    z.object({
      maxRatio: z._default(z.number().check(z.gt(1), z.lte(100)), maxRatio),
      minDelta: z._default(z.number().check(z.gte(0), z.lte(maxDelta)), minDelta),
    }),
    {},
  )

export { VITAL_THRESHOLDS, VITALS, type Vital } from './vital-rating.ts'

/**
 * The real-user signals' judgement (used only when the rollout's `rum.enabled`): the share of page views with a
 * JavaScript error, tested like server errors, and a guard on Web Vitals.
 */
export const RumJudge = z.object({
  jsErrors: z.prefault(
    z.object({
      enabled: z._default(z.boolean(), true),
      /** The test's own false-rollback bound (see `alpha`); every test in force adds its alpha to the total. */
      alpha: z._default(z.number().check(z.gt(0), z.lte(0.2)), 0.005),
      /** Canary page views with an error (one per client by default) before the test may roll back. */
      minErrors: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 5),
    }),
    {},
  ),
  vitals: z.prefault(
    z.object({
      enabled: z._default(z.boolean(), true),
      /**
       * Page views with the vital each cohort needs in a span (vitals.ts) before the p75s are compared: at 100 a p75
       * has a relative standard error of about 8 % for typical LCP spreads, well inside a 1.25x ratio.
       */
      minPageViews: z._default(z.int().check(z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)), 100),
      /** Regressed spans in a row before rolling back; also the compared LCP spans "healthy" waits for. */
      consecutive: z._default(z.int().check(z.gte(1), z.lte(60)), 3),
      lcp: vitalLimit(1.25, 250, 60_000),
      inp: vitalLimit(1.25, 50, 60_000),
      cls: vitalLimit(1.5, 0.05, 10),
    }),
    {},
  ),
  /**
   * Page views each cohort needs in total before the judge says healthy: with RUM on, no beacons is no evidence.
   * 0 lets a rollout promote without any (and without compared vitals, and without the pause when beacons stop).
   */
  minPageViews: z._default(z.int().check(z.gte(0), z.lte(Number.MAX_SAFE_INTEGER)), 200),
})

/**
 * The 4xx companion of the error test: a canary that answers 404 for its own assets or routes sends no 5xx. The
 * share of 4xx answers is tested canary against stable with the same sequential test and the same units (a client
 * adds at most one 4xx to a release's evidence, so one client requesting missing paths cannot trigger it).
 */
export const ClientErrorTest = z.object({
  enabled: z._default(z.boolean(), true),
  alpha: z._default(z.number().check(z.gt(0), z.lte(0.2)), 0.005),
  /** Canary 4xx units before the test may roll back; higher than minErrors, as 4xx are common on any site. */
  minErrors: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 10),
})

/**
 * The shadow step's judgement of response differences (src/core/shadow/judge.ts). Per route and field, the canary's
 * diff rate (canary vs stable) is tested against the noise rate (stable vs stable) with the error test's mixture
 * sequential test; every field defaults so `{}` is a complete configuration.
 */
export const ShadowJudge = z.object({
  /**
   * Bound on the probability that a step whose canary differs from stable only as much as stable from itself ever
   * pauses on a difference, over all fields and however often it is looked at. A false pause costs an operator a
   * look, not a redeploy: 1 %, as the error test.
   */
  alpha: z._default(z.number().check(z.gt(0), z.lte(0.2)), 0.01),
  /**
   * Ratios (canary diff rate ÷ noise rate) the test bets on. Wider than the error test's: a real difference (a
   * renamed field) is usually on every answer while noise is rare, so the ratio is large or nothing.
   */
  thetas: z._default(
    z.array(z.number().check(z.gt(1), z.lte(1000))).check(
      // Each is kept per field in the stored evidence: a few suffice (see Mixture) and keep it small.
      z.minLength(1),
      z.maxLength(8),
      z.refine((t) => new Set(t).size === t.length, { message: 'thetas must be distinct' }),
    ),
    [2, 5, 20, 100],
  ),
  /** Canary differences a field needs before it can be called `differs`: a single odd answer is no regression. */
  minDiffs: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 5),
  /**
   * How much the canary's diff rate must exceed the noise rate (absolute) to be called `differs`, and below which a
   * field is not waited for: at high traffic 0.2 % against 0.1 % is significant and harmless (Diffy's absolute threshold).
   */
  minExcess: z._default(z.number().check(z.gte(0), z.lte(1)), 0.01),
  /**
   * …and must exceed this share of the noise rate (Diffy's relative threshold). A field that differs between two stable
   * answers 30 % of the time (an array in random order) has a sampling error of about a point for hours, so an
   * absolute margin alone would keep it pending, and the step held until it pauses (bench/SIMULATION.md, shadow steps).
   */
  minRelativeExcess: z._default(z.number().check(z.gte(0), z.lte(100)), 0.2),
  /** Noise samples a route needs before its fields can be called `noise`: without them "no noise seen" means "not asked". */
  minNoiseSamples: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 20),
  /**
   * Fields tracked per rollout; each is tested at alpha / maxFields (Bonferroni), so the bound holds over all of them
   * and the evidence kept stays small. Fields beyond it are merged into their route's overflow field.
   */
  maxFields: z._default(z.int().check(z.gte(1), z.lte(64)), 64),
  /** Routes tracked per rollout; the rest are merged into `other`. At most 20, as maxFields at most 64: the evidence stays small. */
  maxRoutes: z._default(z.int().check(z.gte(1), z.lte(20)), 20),
  /** A shadow step held this many minutes beyond its bake time pauses and notifies rather than mirror forever. */
  pauseAfterMinutes: z._default(z.int().check(z.gte(1), z.lte(10_080)), 60),
})

export const JudgeConfig = z.object({
  /**
   * What the error test and the guardrail count. "client" (default): a client address (IPv4, or IPv6 /64) is one
   * unit, and it adds at most one failure to a release's evidence, so no single client, however many requests it
   * sends or cookies it rotates, can roll a canary back. "request": every request is its own unit (slightly more
   * power when requests really are independent; steerable by one client). See src/core/judge/units.ts.
   */
  errorUnit: z._default(z.enum(['client', 'request']), 'client'),
  /**
   * Bound on the probability that a canary no worse than stable is ever rolled
   * back by the sequential error test, however many times it is looked at. 1 %:
   * a false rollback costs a redeploy, a missed regression costs users.
   */
  alpha: z._default(z.number().check(z.gt(0), z.lte(0.2)), 0.01),
  /**
   * Cumulative requests each cohort needs before the judge says `healthy`.
   * 500 is about five expected errors at a 1 % error rate: less than that and
   * "no alarm" means "no data". Alarms do not wait for it: the error test is valid at any sample size.
   */
  minRequests: z._default(Count, 500),
  /**
   * Cumulative canary errors before the error test may roll back. The test is
   * valid without it, but at a 0.1 % canary share three errors are already
   * "significant"; five keeps a single misbehaving client from ending a rollout.
   */
  minErrors: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 5),
  /**
   * Absolute guardrail on the canary's error rate in a window, whatever stable
   * does. It fires only when the exact lower confidence bound (1 − alpha) of the
   * rate is above the limit, and not when stable is above the limit too (a
   * site-wide incident, which the relative test is there to judge).
   */
  maxCanaryErrorRate: z._default(z.number().check(z.gt(0), z.lte(1)), 0.05),
  /** Canary requests in the window before the guardrail is applied at all. */
  guardrailMinRequests: z._default(z.int().check(z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)), 50),
  latency: z.prefault(LatencyGuard, {}),
  /**
   * Sample-ratio-mismatch test (canary share of requests vs the configured
   * weight). Much stricter than alpha because a pause stops the rollout and it is
   * tested every window without sequential correction: 1e-4 per window is at most
   * one false pause per week of one-minute windows, before srmTolerance removes most of those.
   */
  srmAlpha: z._default(z.number().check(z.gt(0), z.lte(0.1)), 1e-4),
  /** Window requests (both cohorts) before the SRM test runs. */
  srmMinRequests: z._default(z.int().check(z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)), 1000),
  /**
   * Relative deviation of the smaller cohort's share that is tolerated even when
   * significant. Requests are not independent (one visitor makes many), so at
   * high traffic a binomial test flags harmless wobble; 0.1 means "10 % of 5 %
   * weight", i.e. a 4.5 %–5.5 % canary share never pauses.
   */
  srmTolerance: z._default(z.number().check(z.gte(0), z.lt(1)), 0.1),
  mixture: z.prefault(Mixture, {}),
  /** The share of 4xx answers, canary against stable (see ClientErrorTest). */
  clientErrors: z.prefault(ClientErrorTest, {}),
  /** Browser JavaScript errors and Web Vitals, when the rollout collects them (`rum.enabled`). */
  rum: z.prefault(RumJudge, {}),
  /** Response differences in a shadow step (see ShadowJudge). */
  shadow: z.prefault(ShadowJudge, {}),
})

export type JudgeConfigInput = z.input<typeof JudgeConfig>
export type JudgeConfig = z.output<typeof JudgeConfig>
export type LatencyGuard = z.output<typeof LatencyGuard>
export type Mixture = z.output<typeof Mixture>
export type RumJudge = z.output<typeof RumJudge>
export type ShadowJudge = z.output<typeof ShadowJudge>

/**
 * The Flagger-style baseline: a fixed success-rate threshold per window and a
 * budget of failed checks. Defaults are Flagger's documented examples.
 */
export const ThresholdConfig = z.object({
  /** A check fails when the canary's success rate is below this (Flagger's `request-success-rate` min 99). */
  minSuccessRate: z._default(Probability, 0.99),
  /** Canary requests in the window for a check to count at all. */
  minRequests: z._default(z.int().check(z.gte(1), z.lte(Number.MAX_SAFE_INTEGER)), 100),
  /** Failed checks (not necessarily consecutive) before rolling back: Flagger's `threshold`. */
  maxFailedChecks: z._default(z.int().check(z.gte(1), z.lte(1000)), 5),
  /** Optional latency check on the canary alone (Flagger's `request-duration`, max 500 ms at p99). */
  maxLatencyMs: z.optional(z.number().check(z.gt(0), z.lte(600_000))),
  latencyQuantile: z._default(z.enum(['p95', 'p99']), 'p99'),
})

export type ThresholdConfigInput = z.input<typeof ThresholdConfig>
export type ThresholdConfig = z.output<typeof ThresholdConfig>
