/**
 * @module
 * The simulator's scenario format: one zod schema, the single source of truth
 * for parsing scenario files and for `bench/scenario.schema.json`
 * (`node bench/simulate.ts --schema` writes it). The rollout's own settings
 * (schedule, judge, threshold baseline, lag) reuse the project's schemas, so a
 * scenario's defaults are exactly what a real rollout gets.
 */
import { readFile } from 'node:fs/promises'
import * as z from 'zod/mini'
import { AudienceName } from '../../src/core/audience/schema.ts'
import { AnalysisSettings, DEFAULT_SCHEDULE, RolloutSpec, RumSettings, Schedule, ShadowSettings } from '../../src/core/config/schema.ts'
import { JudgeConfig, ThresholdConfig } from '../../src/core/judge/schema.ts'
import { MAX_POINT_DIFFS } from '../../src/contract/datapoint.ts'
import { DIFF_KINDS, MAX_FIELD_LENGTH } from '../../src/core/shadow/fields.ts'
import { MAX_WINDOW_ROUTES, OTHER_ROUTE } from '../../src/core/shadow/window.ts'

// zod/mini ships without messages ("Invalid input" for everything); a CLI can afford the English ones.
z.config(z.locales.en())

const Rate = z.number().check(z.gte(0), z.lte(1))
const Minute = z.int().check(z.gte(0), z.lte(100_000))
// 100k rps is far beyond what the per-minute samplers are tuned for and beyond any single rollout's need.
const Rps = z.number().check(z.gte(0), z.lte(100_000))

export const LatencyModel = z
  .strictObject({
    median: z.number().check(z.gt(0), z.lte(600_000), z.describe('Median origin latency in ms.')),
    p95: z.number().check(z.gt(0), z.lte(600_000), z.describe('95th percentile in ms; must exceed the median (log-normal).')),
  })
  .check(z.refine((l) => l.p95 > l.median, { message: 'p95 must be greater than the median', path: ['p95'] }))

/** Used when a scenario gives no latency, so the judge's latency guard always has numbers to look at. */
export const DEFAULT_LATENCY = { median: 80, p95: 200 }

/** A Web Vital's law over page views: log-normal, and the share of page views that report it (INP needs an interaction). */
export const VitalModel = z.strictObject({
  median: z.number().check(z.gt(0), z.lte(600_000), z.describe('Median over page views (ms; CLS unitless).')),
  sigma: z.number().check(z.gt(0), z.lte(5), z.describe('Log-normal sigma: the spread of the log; p75 = median × e^(0.674 sigma).')),
  reported: z.optional(Rate.check(z.describe('Share of page views that report this vital. Default: 1 for LCP and CLS, 0.6 for INP.'))),
})
export type VitalModel = z.output<typeof VitalModel>

/**
 * Used when a scenario gives no vitals: typical field values (web.dev "good" is LCP ≤ 2500 ms, INP ≤ 200 ms, CLS ≤
 * 0.1 at p75), so an A/A with RUM on always has numbers for the Web Vitals guard.
 */
export const DEFAULT_VITALS = {
  lcp: { median: 1800, sigma: 0.5, reported: 1 },
  inp: { median: 120, sigma: 0.7, reported: 0.6 },
  cls: { median: 0.03, sigma: 1, reported: 1 },
} as const

export const CohortModel = z.strictObject({
  errorRate: Rate.check(z.describe('Probability that one request of this cohort fails (5xx, network error or timeout).')),
  latencyMs: z.optional(
    LatencyModel.check(
      z.describe(`Log-normal latency. Default for stable: median ${DEFAULT_LATENCY.median} ms, p95 ${DEFAULT_LATENCY.p95} ms; canary: same as stable.`),
    ),
  ),
  clientErrorRate: z.optional(
    Rate.check(z.describe('Probability that a request this cohort does not fail with a 5xx is answered 4xx. Default for stable: 0; canary: same as stable.')),
  ),
  pageViewErrorRate: z.optional(
    Rate.check(z.describe("Probability that a page view throws a JavaScript error of this cohort's own code. Default for stable: 0; canary: same as stable.")),
  ),
  lcpMs: z.optional(
    VitalModel.check(
      z.describe(`LCP in ms. Default for stable: median ${DEFAULT_VITALS.lcp.median}, sigma ${DEFAULT_VITALS.lcp.sigma}; canary: same as stable.`),
    ),
  ),
  inpMs: z.optional(
    VitalModel.check(
      z.describe(`INP in ms. Default for stable: median ${DEFAULT_VITALS.inp.median}, sigma ${DEFAULT_VITALS.inp.sigma}; canary: same as stable.`),
    ),
  ),
  cls: z.optional(
    VitalModel.check(z.describe(`CLS. Default for stable: median ${DEFAULT_VITALS.cls.median}, sigma ${DEFAULT_VITALS.cls.sigma}; canary: same as stable.`)),
  ),
})
export type CohortModel = z.output<typeof CohortModel>

export const ThirdParty = z.strictObject({
  errorRate: Rate.check(z.describe('Mean probability that a page view of either cohort throws the third-party error.')),
  noise: z._default(
    z
      .number()
      .check(
        z.gte(0),
        z.lte(3),
        z.describe('Minute-to-minute spread of that probability (log-normal sigma, mean kept), the same for both cohorts. 0: constant.'),
      ),
    0,
  ),
})

export const RumModel = z.strictObject({
  ...RumSettings.shape,
  pageViewsPerRequest: z._default(
    z.number().check(z.gt(0), z.lte(1), z.describe('Page views per request that is not answered 5xx or 4xx: the HTML share of requests.')),
    0.2,
  ),
  thirdParty: z.optional(ThirdParty.check(z.describe('A third-party script breaking on page views of both cohorts alike (an A/A nuisance).'))),
})

export const Incident = z
  .strictObject({
    startMinute: Minute.check(z.describe('First minute of the incident (0 = the minute the rollout starts).')),
    endMinute: Minute.check(z.describe('Minute the incident is over (exclusive).')),
    errorRate: Rate.check(z.describe("Error rate of both cohorts during the incident, replacing each cohort's own.")),
  })
  .check(z.refine((i) => i.endMinute > i.startMinute, { message: 'endMinute must be after startMinute', path: ['endMinute'] }))

export const ClientModel = z.strictObject({
  requestsPerMinute: z._default(z.number().check(z.gt(0), z.lte(600), z.describe('Requests an active client makes per minute, on average.')), 2),
  sessionMinutes: z._default(z.number().check(z.gte(1), z.lte(1440), z.describe('Minutes a client stays active, on average (geometric).')), 10),
})

export const Attacker = z.strictObject({
  rps: z.number().check(z.gt(0), z.lte(1000), z.describe('Requests per second of one client into the canary, every one of which fails.')),
  startMinute: z._default(Minute.check(z.describe('Minute the attack begins.')), 0),
})

/** The key of the visitors in no ring wherever rings are listed by name (as the rollout's history names them). */
export const EVERYONE_ELSE_KEY = 'everyone-else'

const RingRate = z.strictObject({ errorRate: Rate.check(z.describe("This ring's error rate for the cohort, replacing the scenario's.")) })

export const Ring = z.strictObject({
  name: AudienceName.check(
    z.describe('The audience of this ring, as schedule steps name it ({ "audience": name, "weight": w }).'),
    z.refine((n) => n !== EVERYONE_ELSE_KEY, { message: `"${EVERYONE_ELSE_KEY}" is the name of the visitors in no ring` }),
  ),
  share: z.number().check(z.gt(0), z.lt(1), z.describe('Share of all requests made by visitors in this audience (the rings are disjoint).')),
  stable: z.optional(RingRate),
  canary: z.optional(RingRate),
})
export type Ring = z.output<typeof Ring>

// ---- shadow traffic (bench/sim/shadow.ts draws it) ----

export const ShadowField = z.strictObject({
  field: z.string().check(
    z.minLength(1),
    z.maxLength(MAX_FIELD_LENGTH),
    z.refine((f) => f !== 'status', { message: '"status" is drawn from the error rates' }),
    z.describe('The field as the diff report names it: a JSON Pointer (`/user/name`, array indexes written `*`), `header:<name>` or `body`.'),
  ),
  kind: z._default(z.enum(DIFF_KINDS).check(z.describe('How it differs.')), 'value'),
  noise: z._default(Rate.check(z.describe("Probability that two of stable's answers to one request differ in this field (a timestamp: 1).")), 0),
  canary: z.optional(
    Rate.check(
      z.describe(
        "Probability that the canary's answer differs from stable's in this field. Default: `noise` (a noise field). " +
          'A field the canary renamed on every answer: 1 with noise 0.',
      ),
    ),
  ),
})

export const ShadowRoute = z.strictObject({
  route: z.string().check(
    z.minLength(1),
    z.maxLength(256),
    z.refine((r) => r !== OTHER_ROUTE, { message: `"${OTHER_ROUTE}" is where a source counts the routes beyond its cap` }),
    z.describe('The route template, as the edge learns it (`/api/users/:id`).'),
  ),
  weight: z.number().check(z.gt(0), z.lte(1_000_000), z.describe("This route's share of mirrored requests, relative to the other routes' weights.")),
  fields: z._default(
    z.array(ShadowField).check(
      // One data point lists at most MAX_POINT_DIFFS differing fields, `status` among them: more would be cut at the edge.
      z.maxLength(MAX_POINT_DIFFS - 1),
      z.describe('The fields that differ on this route (every other field is equal in every answer).'),
    ),
    [],
  ),
})

/** One route, all answers equal: what a shadow step sees of a canary that changes nothing. */
const IDENTICAL = [{ route: '/', weight: 1, fields: [] }]

export const ShadowModel = z
  .strictObject({
    noiseSampleRate: ShadowSettings.shape.noiseSampleRate.check(
      z.describe("The rollout's `shadow.noiseSampleRate`: the share of mirrored requests for which stable is asked twice."),
    ),
    safeShare: z._default(
      Rate.check(z.describe('Share of requests that may be mirrored: GET and HEAD without a body, within the include and exclude prefixes.')),
      1,
    ),
    routes: z._default(
      z
        .array(ShadowRoute)
        .check(z.minLength(1), z.maxLength(MAX_WINDOW_ROUTES), z.describe('Routes of the mirrored requests. Default: one route whose answers never differ.')),
      IDENTICAL,
    ),
  })
  .check(
    z.superRefine((m, ctx) => {
      const seen = new Set<string>()
      m.routes.forEach((r, i) => {
        if (seen.has(r.route)) ctx.issues.push({ code: 'custom', message: `route "${r.route}" is listed twice`, path: ['routes', i, 'route'], input: m })
        seen.add(r.route)
        const fields = new Set<string>()
        r.fields.forEach((f, j) => {
          if (fields.has(f.field))
            ctx.issues.push({ code: 'custom', message: `field "${f.field}" is listed twice`, path: ['routes', i, 'fields', j, 'field'], input: m })
          fields.add(f.field)
        })
      })
    }),
  )
export type ShadowModel = z.output<typeof ShadowModel>

const lag = AnalysisSettings.shape.lagMinutes
const noData = AnalysisSettings.shape.noDataPauseMinutes

export const Scenario = z
  .strictObject({
    $schema: z.optional(z.string()),
    description: z.optional(z.string().check(z.maxLength(2000))),
    expect: z.optional(
      z
        .enum(['promote', 'rollback', 'pause'])
        .check(
          z.describe(
            'What a good judge does here; "promote" marks a canary no worse than stable, so any rollback is a false one; ' +
              '"pause" one whose answers differ from stable\'s, which a shadow step should stop before any visitor is served by it.',
          ),
        ),
    ),
    minutes: z.int().check(z.gte(1), z.lte(10_080), z.describe('Simulated minutes; a seed stops earlier at promotion, rollback or pause.')),
    rps: z
      .union([Rps, z.array(Rps).check(z.minLength(1), z.maxLength(10_080))])
      .check(z.describe('Total requests per second: one number, or one per minute (the last value repeats) for diurnal curves and lulls.')),
    stable: CohortModel,
    canary: CohortModel,
    incident: z.optional(Incident.check(z.describe('A site-wide outage: both cohorts fail at the same rate for a while.'))),
    clients: z.prefault(ClientModel.check(z.describe('How requests group into clients, the unit the judge counts by default.')), {}),
    rum: z.prefault(
      RumModel.check(
        z.describe(
          "Real-user signals: the rollout's `rum` setting (enabled, sampleRate, maxBeaconsPerMinute; off by default, as for a real rollout) " +
            'and how page views arise from requests.',
        ),
      ),
      {},
    ),
    shadow: z.prefault(
      ShadowModel.check(
        z.describe(
          'What a shadow step (`{ "shadow": 10 }` as the first step of the schedule) compares: the routes of the mirrored requests and the fields ' +
            "that differ on each, canary against stable and stable against stable, and the rollout's noiseSampleRate.",
        ),
      ),
      {},
    ),
    attacker: z.optional(Attacker.check(z.describe('One hostile client, always in the canary (it chooses its cookie), making the canary fail on purpose.'))),
    lagMinutes: lag.check(z.describe('Analytics Engine ingestion lag: a minute of data becomes visible this many minutes after it ends.')),
    noDataPauseMinutes: noData,
    propagationSeconds: z._default(
      z
        .number()
        .check(
          z.gte(0),
          z.lte(120),
          z.describe(
            'Seconds before the edge applies a weight change the controller made (KV edge cache up to 60 s plus the isolate cache, ' +
              'about 65 s at worst per the README). Default 0: at once.',
          ),
        ),
      0,
    ),
    schedule: z.prefault(Schedule, DEFAULT_SCHEDULE),
    judge: z.prefault(JudgeConfig, {}),
    threshold: z.prefault(ThresholdConfig, {}),
    rings: z._default(
      z
        .array(Ring)
        .check(
          z.maxLength(16),
          z.describe(
            'Audiences whose visitors make a share of the traffic, each optionally with its own error rates; the rest are everyone else. ' +
              'The attacker, if any, is one of everyone else.',
          ),
        ),
      [],
    ),
  })
  .check(
    z.superRefine((s, ctx) => {
      const issue = (message: string, path: PropertyKey[]) => ctx.issues.push({ code: 'custom', message, path, input: s })
      // Shares sum below 1, so everyone else keeps some traffic: the global step always has visitors to judge.
      if (s.rings.reduce((sum, r) => sum + r.share, 0) >= 1) issue("the rings' shares must sum to less than 1", ['rings'])
      const names = new Set<string>()
      s.rings.forEach((r, i) => {
        if (names.has(r.name)) issue(`ring "${r.name}" is listed twice`, ['rings', i, 'name'])
        names.add(r.name)
      })
      s.schedule.forEach((step, i) => {
        if (step.audience !== undefined && !names.has(step.audience)) issue(`no ring "${step.audience}" in rings`, ['schedule', i, 'audience'])
      })
    }),
  )

export type ScenarioInput = z.input<typeof Scenario>
export type Scenario = z.output<typeof Scenario>

/** Thrown with every problem of an unusable scenario, each naming its field. */
export class ScenarioError extends Error {}

function describeIssue(issue: z.core.$ZodIssue): string {
  const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length > 0 ? `${at}: ` : ''
    return `${where}unknown field(s) ${issue.keys.map((k) => [...issue.path, k].join('.')).join(', ')}`
  }
  return `${at}: ${issue.message}`
}

export function parseScenario(input: unknown, name = 'scenario'): Scenario {
  const r = z.safeParse(Scenario, input)
  if (!r.success) throw new ScenarioError(`${name} is invalid:\n${r.error.issues.map((i) => `  ${describeIssue(i)}`).join('\n')}`)
  return r.data
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `over` merged into `base`: objects field by field, anything else (arrays included) replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k], v) : v
  return out
}

/** Reads and validates a scenario file; `override` (parsed JSON) is merged in first, for what-if runs. */
export async function loadScenario(path: string, override?: unknown): Promise<Scenario> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ScenarioError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new ScenarioError(`${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`)
  }
  return parseScenario(override === undefined ? json : deepMerge(json, override), override === undefined ? path : `${path} with --override`)
}

/** The rollout spec the controller code sees: the project's defaults plus the scenario's overrides. */
export function rolloutSpecOf(s: Scenario): RolloutSpec {
  return z.parse(RolloutSpec, {
    id: 'simulated',
    stable: 'https://stable.example',
    canary: 'https://canary.example',
    schedule: s.schedule,
    judge: s.judge,
    rum: { enabled: s.rum.enabled, sampleRate: s.rum.sampleRate, maxBeaconsPerMinute: s.rum.maxBeaconsPerMinute },
    shadow: { noiseSampleRate: s.shadow.noiseSampleRate },
    analysis: { lagMinutes: s.lagMinutes, noDataPauseMinutes: s.noDataPauseMinutes },
    // Any valid predicate will do: the simulator assigns visitors to rings by share, not by matching requests.
    audiences: Object.fromEntries(s.rings.map((r) => [r.name, { header: { name: 'x-sluice-ring', values: [r.name] } }])),
  })
}

/** The JSON Schema of a scenario file, as written to bench/scenario.schema.json. */
export function scenarioJsonSchema(): string {
  const schema = {
    ...z.toJSONSchema(Scenario, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://sluice.dev/schema/simulation-scenario.json',
    title: 'Sluice simulation scenario',
  }
  return `${JSON.stringify(schema, null, 2)}\n`
}
