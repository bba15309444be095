/**
 * @module
 * The simulator's clients: the same traffic as traffic.ts, counted by client,
 * as the clients query does (src/control/metrics/sql.ts), so the judge's
 * default unit (judge.errorUnit "client") is simulated too.
 *
 * Cheap enough for thousands of seeds: a cohort's requests in a minute come
 * from requests ÷ `requestsPerMinute` active clients (more traffic is more
 * clients, not busier ones), each making a Poisson number of requests, the
 * minute's errors falling on them uniformly at random. What carries over from
 * minute to minute is the share of a cohort's active clients that has already
 * failed in this release ("used", no longer fresh): sessions end after
 * `sessionMinutes` on average and new clients arrive fresh, and a raised
 * weight moves stable clients to the canary, where they are fresh (buckets are
 * monotone; the query counts per cohort). Optionally one attacker: a single
 * canary client whose every request fails.
 *
 * Its dice come from their own stream, so the request counts, and with them
 * every result of `errorUnit: "request"`, are exactly those of traffic.ts.
 */
import type { Random } from '../../lib/random.ts'
import type { ClientCounts } from '../../src/core/judge/judge.ts'
import { SRM_CLIENT_CAP } from '../../src/core/judge/units.ts'
import type { Scenario } from './scenario.ts'
import { type CohortMinute, type MinuteTraffic, streamFor } from './traffic.ts'

const CLIENTS = 3

export interface ClientPool {
  /** Share of each cohort's active clients that has failed before in this release. */
  used: { stable: number; canary: number }
  /** The edge's weight last minute: a rise moves clients. */
  weight: number
  attackerFailed: boolean
}

export const newClientPool = (): ClientPool => ({ used: { stable: 0, canary: 0 }, weight: 0, attackerFailed: false })

/**
 * One minute of both cohorts counted by client, advancing `pool`: `perMinute` is what an active client makes of the
 * counted thing (requests, or page views) per minute, `weight` the edge's canary share. The 4xx and page-view counts
 * (signals.ts) use it with pools of their own, so "used" there means "already got a 4xx" or "already saw a JS error".
 */
export function countClients(
  rng: Random,
  pool: ClientPool,
  weight: number,
  perMinute: number,
  sessionMinutes: number,
  cohorts: { stable: CohortMinute; canary: CohortMinute },
): { stable: ClientCounts; canary: ClientCounts } {
  const r = perMinute
  const turnover = 1 - 1 / sessionMinutes
  // Buckets are monotone: raising the weight from w0 to w1 moves the stable clients whose bucket lies in [w0, w1),
  // fresh in the canary; the canary's earlier clients keep their share of used ones.
  const w = weight
  if (w > pool.weight) pool.used.canary *= pool.weight / w
  pool.weight = w

  const count = (cohort: 'stable' | 'canary', requests: number, errors: number): ClientCounts => {
    const used = (pool.used[cohort] *= turnover)
    if (requests === 0) return { seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 }
    const active = Math.max(1, Math.round(requests / r))
    const seen = Math.min(requests, Math.max(1, rng.binomial(active, 1 - Math.exp(-r))))
    const failing = Math.min(errors, seen, rng.binomial(seen, 1 - (1 - 1 / seen) ** errors))
    const fresh = rng.binomial(seen, 1 - used)
    const firstFailures = Math.min(fresh, rng.binomial(failing, 1 - used))
    pool.used[cohort] = Math.min(1, used + firstFailures / active)
    // Ordinary clients make far fewer than the cap's requests in a minute: capping changes only heavy ones.
    return { seen, failing, fresh: Math.max(fresh, firstFailures), firstFailures, cappedRequests: Math.min(requests, seen * SRM_CLIENT_CAP) }
  }
  const { stable, canary } = cohorts
  return { stable: count('stable', stable.requests, stable.errors), canary: count('canary', canary.requests, canary.errors) }
}

/** Counts `t`'s minute by client, advancing the pool; adds the attacker's requests to the canary's. */
export function clientMinute(s: Scenario, seed: number, pool: ClientPool, t: MinuteTraffic): { stable: ClientCounts; canary: ClientCounts } {
  const { stable, canary } = countClients(streamFor(seed, CLIENTS, t.minute), pool, t.edgeWeight, s.clients.requestsPerMinute, s.clients.sessionMinutes, t)
  const a = s.attacker
  if (a && t.minute >= a.startMinute) {
    const requests = Math.round(a.rps * 60)
    t.canary.requests += requests
    t.canary.errors += requests
    canary.seen++
    canary.failing++
    canary.cappedRequests += Math.min(requests, SRM_CLIENT_CAP)
    if (!pool.attackerFailed) {
      canary.fresh++
      canary.firstFailures++
      pool.attackerFailed = true
    }
  }
  return { stable, canary }
}
