/**
 * @module
 * The admin API's answers, as the coordinator produces them and the
 * dashboard and the CLI read them: a rollout's status, the list, a history
 * page, a series page, a shadow step's diff report and the problem document
 * of every error. The OpenAPI
 * document's response schemas are generated from these (src/admin/openapi.ts),
 * and test/admin/openapi.test.ts checks real answers against that document.
 *
 * Times of day are ISO 8601 strings; only a series point's `at` is ms since
 * epoch (charts compute with it).
 */
import * as z from 'zod/mini'
import { Percent, RolloutSpec } from '../core/config/schema.ts'
import { Eta } from '../core/rollout/eta.ts'
import type { SignalDetails } from '../core/judge/signals.ts'
import { type DecisionKind, PHASES } from '../core/rollout/machine.ts'
import { DIFF_KINDS } from '../core/shadow/fields.ts'
import type { FieldVerdict, ShadowReport } from '../core/shadow/report.ts'

const Time = z.iso.datetime()
const perCohort = <T extends z.core.SomeType>(t: T) => z.object({ stable: t, canary: t })
const Vital = z.object({ p75: z.number(), n: z.int() })
const Vitals = z.object({ lcp: z.optional(Vital), inp: z.optional(Vital), cls: z.optional(Vital) })
/** A first JavaScript error and how many distinct clients reported it. */
const Fingerprint = z.object({ fingerprint: z.string(), clients: z.int() })

/**
 * What a decision records of the companion signals (src/core/judge/signals.ts): `clientErrors`, the window's 4xx
 * answers per cohort; `rum`, with real-user signals on, the page views, those with an error, the vitals' p75 and
 * the canary's most frequent first errors, marked when stable never showed them.
 */
export const DecisionSignals = z.object({
  clientErrors: z.optional(perCohort(z.object({ requests: z.int(), errors: z.int() }))),
  rum: z.optional(
    z.object({
      /** HTML answers that got the script tag, and those left without it for their CSP. */
      injection: z.optional(perCohort(z.object({ injected: z.int(), csp: z.int() }))),
      window: perCohort(z.object({ pageViews: z.int(), errored: z.int() })),
      /** Since the release began. */
      pageViews: perCohort(z.int()),
      vitals: perCohort(Vitals),
      canaryErrors: z.array(z.extend(Fingerprint, { newInCanary: z.boolean() })),
      stableErrors: z.array(Fingerprint),
    }),
  ),
})

/** Fails to compile unless the judge's record (SignalDetails) is a valid DecisionSignals: one shape, checked. */
export type SignalDetailsConform<T extends z.input<typeof DecisionSignals> = SignalDetails> = T

/** A decision's numbers and records: free-form, with the signals' records described. */
const Data = z.optional(z.looseObject(DecisionSignals.shape))

/** The schedule step a rollout is on, with the end of its bake time. */
export const StepStatus = z.object({
  index: z.int(),
  weight: Percent,
  /** A ring step's audience; absent for a step for everyone. */
  audience: z.optional(z.string()),
  bakeMinutes: z.int(),
  minRequests: z.int(),
  startedAt: z.nullable(Time),
  bakeEndsAt: z.nullable(Time),
})

const DECISION_KINDS = ['advance', 'gate', 'promote', 'rollback', 'pause', 'hold'] as const satisfies readonly DecisionKind[]

/** The controller's last conclusion; `data` holds the numbers behind it. */
export const LastDecision = z.object({ kind: z.enum(DECISION_KINDS), reason: z.string(), at: Time, data: Data })

export const RolloutStatus = z.object({
  id: z.string(),
  /** Every default filled in; secrets read "set" (src/admin/secrets.ts). */
  spec: RolloutSpec,
  phase: z.enum(PHASES),
  /** Everyone's canary weight. */
  weight: Percent,
  /** Audience rings' weights (src/core/rollout/rings.ts): a ring's visitors get the higher of this and `weight`. */
  rings: z.record(z.string(), Percent),
  revision: z.int(),
  release: z.nullable(z.string()),
  /** Null until a release starts, and again after `complete`. */
  step: z.nullable(StepStatus),
  lastDecision: z.nullable(LastDecision),
  updatedAt: Time,
  /** When the step and the schedule will be done at the traffic judged so far; null unless progressing or at a gate. */
  eta: z.nullable(Eta),
  /** Only in the answer to a start, when the traffic seen recently would hold the release back for more than a day. */
  warnings: z.optional(z.array(z.string())),
})

export const RolloutList = z.object({ rollouts: z.array(RolloutStatus) })

export const Actor = z.object({ kind: z.enum(['operator', 'controller']), name: z.string() })

/** A phase as a string: history outlives the code that wrote it, so an entry may name a phase since renamed. */
const Snapshot = z.object({ phase: z.string(), weight: Percent, revision: z.int() })

/** One change, as recorded; `from` is null on create, `to` on delete. */
export const HistoryEntry = z.object({
  seq: z.int(),
  at: Time,
  rollout: z.string(),
  actor: Actor,
  command: z.string(),
  from: z.nullable(Snapshot),
  to: z.nullable(Snapshot),
  reason: z.optional(z.string()),
  data: Data,
})

/** Newest first; `next` is the `before` cursor of the following page. */
export const HistoryPage = z.object({ entries: z.array(HistoryEntry), next: z.nullable(z.int()) })

export const CohortPoint = z.object({
  requests: z.number(),
  errors: z.number(),
  p95: z.nullable(z.number()),
  /** With real-user signals on: page views reported by beacons in the window, and those with a JavaScript error. */
  pageViews: z.optional(z.number()),
  pageViewErrors: z.optional(z.number()),
})

/** One judged window, for charts: the weight and each cohort's numbers. */
export const SeriesPoint = z.object({
  /** Window end, ms since epoch. */
  at: z.int(),
  weight: Percent,
  stable: CohortPoint,
  canary: CohortPoint,
})

/** Oldest first. */
export const SeriesPage = z.object({ points: z.array(SeriesPoint) })

const FIELD_VERDICTS = ['differs', 'noise', 'pending', 'ignored'] as const satisfies readonly FieldVerdict[]
const Rate = z.number().check(z.gte(0), z.lte(1))

/** One field of a route: how often it differed canary against stable and stable against stable, and the judge's call. */
export const DiffField = z.object({
  field: z.string(),
  kind: z.enum(DIFF_KINDS),
  canary: z.int(),
  canaryRate: Rate,
  noise: z.int(),
  /** Null before any noise-sampled request on the route. */
  noiseRate: z.nullable(Rate),
  verdict: z.enum(FIELD_VERDICTS),
  /** Values cut to 200 characters; values of `set-cookie` and `authorization` are never stored. */
  example: z.nullable(z.object({ stable: z.string(), canary: z.string() })),
})

export const DiffRoute = z.object({
  route: z.string(),
  compared: z.int(),
  noiseSampled: z.int(),
  statusMismatches: z.int(),
  canaryErrors: z.int(),
  stableErrors: z.int(),
  /** Most differing first. */
  fields: z.array(DiffField),
})

/** A rollout's shadow step, compared: per route and field path, the canary's rate of differences against noise's. */
export const DiffReport = z.object({
  rolloutId: z.string(),
  release: z.nullable(z.string()),
  /** Percent of visitors mirrored now (0 outside a shadow step). */
  shadowWeight: Percent,
  since: z.nullable(Time),
  until: z.nullable(Time),
  compared: z.int(),
  noiseSampled: z.int(),
  verdict: z.enum(['differs', 'pending', 'clean']),
  /** Most compared first. */
  routes: z.array(DiffRoute),
})

/** Fails to compile unless the report core builds (ShadowReport) is a valid DiffReport: one shape, checked. */
export type ShadowReportConform<T extends z.input<typeof DiffReport> = ShadowReport> = T

export const FieldError = z.object({ field: z.string(), message: z.string() })

/** RFC 9457 problem details: every error of the admin API, naming each invalid field. */
export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.int(),
  detail: z.string(),
  errors: z.optional(z.array(FieldError)),
})

export type StepStatus = z.output<typeof StepStatus>
export type LastDecision = z.output<typeof LastDecision>
export type DecisionSignals = z.output<typeof DecisionSignals>
export type RolloutStatus = z.output<typeof RolloutStatus>
export type RolloutList = z.output<typeof RolloutList>
export type Actor = z.output<typeof Actor>
export type HistoryEntry = z.output<typeof HistoryEntry>
export type HistoryPage = z.output<typeof HistoryPage>
export type CohortPoint = z.output<typeof CohortPoint>
export type SeriesPoint = z.output<typeof SeriesPoint>
export type SeriesPage = z.output<typeof SeriesPage>
export type DiffField = z.output<typeof DiffField>
export type DiffRoute = z.output<typeof DiffRoute>
export type DiffReport = z.output<typeof DiffReport>
export type FieldError = z.output<typeof FieldError>
export type Problem = z.output<typeof Problem>
