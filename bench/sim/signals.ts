/**
 * @module
 * The simulator's companion signals (src/core/judge/signals.ts): per minute,
 * each cohort's 4xx answers and, when the scenario's rollout collects beacons
 * (`rum.enabled`), its page views, the page views with a JavaScript error and
 * those reporting each vital, all counted by client as the 4xx and beacon
 * queries count them (clients.ts, each signal with its own pool: "used" there
 * means "already got a 4xx" or "already saw a JS error"); per window, each
 * cohort's Web Vitals p75 over the vital's span, as the metrics source reads it.
 *
 * Every draw comes from streams of its own (purposes 5-8, per minute or per
 * window start), so the requests, 5xx, clients and latency of traffic.ts, and
 * with them every result of a scenario without 4xx or beacons, are exactly
 * those of a run without this module.
 *
 * A 4xx is drawn only on a request not answered 5xx, and a page view only on
 * a request answered neither: an error page carries no RUM script worth
 * counting. The attacker's requests (all 5xx) are one client that never gets
 * a 4xx. With rings, the signals are drawn on the minute's sums: the judge
 * reads them for the whole rollout, never per ring.
 */
import type { SignalWindow } from '../../src/core/judge/signals.ts'
import { VITALS, type Vital } from '../../src/core/judge/schema.ts'
import { SRM_CLIENT_CAP } from '../../src/core/judge/units.ts'
import type { VitalsSummary } from '../../src/core/judge/vitals.ts'
import { type ClientPool, countClients, newClientPool } from './clients.ts'
import { type CohortModel, DEFAULT_VITALS, type Scenario, type VitalModel } from './scenario.ts'
import {
  type CohortMinute,
  type CountedMinute,
  type MinuteTraffic,
  NO_CLIENTS,
  type SignalMinute,
  addClients,
  logNormalQuantile,
  streamFor,
} from './traffic.ts'

const CLIENT_ERRORS = 5
const PAGE_VIEWS = 6
const VITALS_DRAW = 7
const VITALS_REPORTED = 8

type Cohort = 'stable' | 'canary'
const both = <T>(f: (c: Cohort) => T): Record<Cohort, T> => ({ stable: f('stable'), canary: f('canary') })

export interface SignalPools {
  clientErrors: ClientPool
  pageViews: ClientPool
}

export const newSignalPools = (): SignalPools => ({ clientErrors: newClientPool(), pageViews: newClientPool() })

/** A cohort's rate of a signal: the canary's defaults to stable's, stable's to 0 (no 4xx, no JS errors). */
const rateOf = (s: Scenario, c: Cohort, key: 'clientErrorRate' | 'pageViewErrorRate'): number => s[c][key] ?? (c === 'canary' ? s.stable[key] : undefined) ?? 0

/** Requests the attacker (clients.ts) added to the canary in `minute`. */
const attackerRequests = (s: Scenario, minute: number): number => (s.attacker && minute >= s.attacker.startMinute ? Math.round(s.attacker.rps * 60) : 0)

/** `t`'s minute of 4xx answers and page views, advancing `pools`. `t` must already count its clients (attacker included). */
export function signalMinute(s: Scenario, seed: number, pools: SignalPools, t: MinuteTraffic): SignalMinute {
  const extra = attackerRequests(s, t.minute)
  // The ordinary visitors' requests and 5xx: what the attacker sent is neither a 4xx nor a page view.
  const ordinary: Record<Cohort, CohortMinute> = {
    stable: t.stable,
    canary: { requests: t.canary.requests - extra, errors: t.canary.errors - extra },
  }
  const { requestsPerMinute: r, sessionMinutes } = s.clients

  const rng = streamFor(seed, CLIENT_ERRORS, t.minute)
  const answered = both((c) => ordinary[c].requests - ordinary[c].errors)
  const fourxx = both((c) => rng.binomial(answered[c], rateOf(s, c, 'clientErrorRate')))
  const byClient = countClients(
    rng,
    pools.clientErrors,
    t.edgeWeight,
    r,
    sessionMinutes,
    both((c) => ({ requests: ordinary[c].requests, errors: fourxx[c] })),
  )
  if (extra > 0) {
    // The attacker: one more client, never a 4xx, so fresh in every window.
    byClient.canary = { ...byClient.canary, seen: byClient.canary.seen + 1, fresh: byClient.canary.fresh + 1 }
    byClient.canary.cappedRequests += Math.min(extra, SRM_CLIENT_CAP)
  }
  const out: SignalMinute = { clientErrors: both((c) => ({ requests: t[c].requests, errors: fourxx[c], clients: byClient[c] })) }
  if (!s.rum.enabled) return out

  const pv = streamFor(seed, PAGE_VIEWS, t.minute)
  const { pageViewsPerRequest, sampleRate, thirdParty } = s.rum
  // The third party's rate this minute, one draw for both cohorts: e^(σZ − σ²/2) has mean 1, so the mean is kept.
  const shared = thirdParty ? Math.min(1, thirdParty.errorRate * Math.exp(thirdParty.noise * pv.normal() - thirdParty.noise ** 2 / 2)) : 0
  // sampleRate thins page views as it thins visitors: a sampled visitor's every page view reports.
  const views = both((c) => pv.binomial(answered[c] - fourxx[c], pageViewsPerRequest * sampleRate))
  const errored = both((c) => pv.binomial(views[c], 1 - (1 - rateOf(s, c, 'pageViewErrorRate')) * (1 - shared)))
  // A client makes pageViewsPerRequest of its requests as page views: the active clients are those of the requests.
  const viewers = countClients(
    pv,
    pools.pageViews,
    t.edgeWeight,
    r * pageViewsPerRequest,
    sessionMinutes,
    both((c) => ({ requests: views[c], errors: errored[c] })),
  )
  // Which page views report each vital: a stream of its own, so a span that reaches back counts the same page views.
  const rep = streamFor(seed, VITALS_REPORTED, t.minute)
  out.rum = both((c) => {
    const models = vitalModels(s, c)
    const reported = (v: Vital) => rep.binomial(views[c], models[v].reported ?? DEFAULT_VITALS[v].reported)
    return { requests: views[c], errors: errored[c], clients: viewers[c], vitals: { lcp: reported('lcp'), inp: reported('inp'), cls: reported('cls') } }
  })
  return out
}

const VITAL_FIELD = { lcp: 'lcpMs', inp: 'inpMs', cls: 'cls' } as const satisfies Record<Vital, keyof CohortModel>

/** Each vital's law for the cohort: the scenario's, the canary's defaulting to stable's, stable's to DEFAULT_VITALS. */
function vitalModels(s: Scenario, c: Cohort): Record<Vital, VitalModel> {
  const of = (v: Vital): VitalModel => {
    const key = VITAL_FIELD[v]
    return s[c][key] ?? (c === 'canary' ? s.stable[key] : undefined) ?? DEFAULT_VITALS[v]
  }
  return { lcp: of('lcp'), inp: of('inp'), cls: of('cls') }
}

/** A window of the buffer as minute indices: [first, last). */
export interface MinuteRange {
  first: number
  last: number
}

/**
 * A window's signals as the metrics source returns them: counts summed over its minutes (clients too, as
 * windowCohorts sums them), and with beacons each vital's p75 over its span, [spans[v], last) (the source's
 * `vitalStarts`; default: the window), of the page views that reported it. The p75s are drawn per window, as latency
 * is: quantiles of different minutes do not add up. Two reads of one growing span are drawn independently, which
 * matters not: only a span's last read (the one with enough page views) is compared, and compared spans never
 * overlap.
 */
export function windowSignals(
  s: Scenario,
  seed: number,
  buffer: readonly MinuteTraffic[],
  { first, last }: MinuteRange,
  spans: Record<Vital, number> = { lcp: first, inp: first, cls: first },
): SignalWindow {
  const minutes = buffer.slice(first, last)
  const sum = (pick: (m: SignalMinute) => CountedMinute | undefined): CountedMinute =>
    minutes.reduce(
      (out, m) => {
        const c = m.signals && pick(m.signals)
        return c ? { requests: out.requests + c.requests, errors: out.errors + c.errors, clients: addClients(out.clients, c.clients) } : out
      },
      { requests: 0, errors: 0, clients: NO_CLIENTS },
    )
  const out: SignalWindow = { clientErrors: both((c) => sum((m) => m.clientErrors[c])) }
  if (!s.rum.enabled) return out
  const rng = streamFor(seed, VITALS_DRAW, first)
  out.rum = both((c) => {
    const models = vitalModels(s, c)
    const vitals: VitalsSummary = {}
    for (const v of VITALS) {
      const m = models[v]
      let n = 0
      for (let k = spans[v]; k < last; k++) n += buffer[k]?.signals?.rum?.[c].vitals[v] ?? 0
      if (n > 0) vitals[v] = { p75: logNormalQuantile(rng, n, 0.75, m.median, m.sigma), n }
    }
    return { ...sum((m) => m.rum?.[c]), vitals }
  })
  return out
}
