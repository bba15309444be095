/**
 * @module
 * Shadow traffic through the whole `npm start` loop: a release starts in a shadow step, the edge mirrors the safe
 * requests of visitors to a canary that calls the demo API's `name` field `fullName` (`renameField`), and the
 * controller must pause the rollout in that step, naming the field, while every visitor is answered by stable. The
 * diff report must tell the rename from the noise both origins put in every answer (a timestamp and a request id).
 *
 * The visitors are scripted (no browser): each has its own cookie jar and address, as `npm run traffic`'s do, and
 * asks only for `/api/users/<id>`, the one route mirrored (`shadow.include`); the demo's other routes differ between
 * the two origins by design (their version), which is not what this test is about.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stack } from '../../scripts/lib/stack.ts'
import { type Visitor, rememberCookies, visitorHeaders } from '../../scripts/lib/visitor.ts'
import type { ReportField, ShadowReport } from '../../src/core/shadow/report.ts'
import { type Status, api, stack, until, whileRunning } from './support.ts'

/**
 * Every visitor mirrored (`shadow: 100`) and stable asked twice for every mirrored request (`noiseSampleRate: 1`),
 * so both rates build up as fast as the visitors ask; judged on 5-second windows. A route's fields can be called
 * noise from 10 noise samples (`minNoiseSamples`) rather than 20: the rename is significant only after more compared
 * requests than that (each adds at most a factor 2 to its evidence), so the noise is called by the time of the
 * pause, however the first window falls. Should the rename go unnoticed, the shadow step ends after 100 compared
 * requests and the canary serves visitors within seconds (a promotion, with noise alone on this route), so the test
 * fails soon rather than at its deadline.
 */
const SHADOW_ROLLOUT = {
  id: 'demo',
  schedule: [{ shadow: 100, bakeMinutes: 0, minRequests: 100 }, { weight: 50, bakeMinutes: 0, minRequests: 60 }, { weight: 100 }],
  shadow: { include: ['/api/users/'], noiseSampleRate: 1 },
  judge: { minRequests: 100, shadow: { minNoiseSamples: 10 } },
  analysis: { lagMinutes: 0, windowSeconds: 5, settleSeconds: 3, noDataPauseMinutes: 5 },
}

const ROUTE = '/api/users/:id'
const VISITORS = 8
/** Pause between one visitor's requests: about 40 requests a second in all, each mirrored and sent to stable twice. */
const PACE_MS = 200

interface Answer {
  status: number
  cohort: string | null
  origin: string | null
  body: string
}

type RolloutStatus = Status & { step: { index: number } | null; lastDecision: { kind: string; reason: string } | null }

let s: Stack

beforeAll(async () => {
  s = await stack(SHADOW_ROLLOUT)
}, 120_000)

afterAll(async () => {
  await s?.stop()
}, 30_000)

const status = () => api<RolloutStatus>(s, '/rollouts/demo')
const diff = () => api<ShadowReport>(s, '/rollouts/demo/diff')

/** The visitors ask for users, each at its own pace, for as long as `fn` runs; resolves with `fn`'s result and every answer they got. */
async function visiting<T>(fn: () => Promise<T>): Promise<[T, Answer[]]> {
  const answers: Answer[] = []
  const loop = async (v: Visitor, running: () => boolean) => {
    while (running()) {
      const res = await fetch(`${s.url}/api/users/${1 + Math.floor(Math.random() * 50)}`, {
        headers: visitorHeaders(v, 'empty', 'sluice-e2e'),
        signal: AbortSignal.timeout(10_000),
      })
      rememberCookies(v, res)
      answers.push({ status: res.status, cohort: res.headers.get('x-sluice-cohort'), origin: res.headers.get('x-demo-origin'), body: await res.text() })
      await new Promise((r) => setTimeout(r, PACE_MS))
    }
  }
  const visitors = Array.from({ length: VISITORS }, (_, id): Visitor => ({ id, jar: new Map() }))
  return [await whileRunning(visitors, loop, fn), answers]
}

const field = (report: ShadowReport, name: string): ReportField | undefined =>
  report.routes.find((r) => r.route === ROUTE)?.fields.find((f) => f.field === name)

describe('shadow traffic', () => {
  it('pauses a canary that renames a JSON field in its shadow step, naming the field, while every visitor is answered by stable', async () => {
    await s.canary.configure({ renameField: true })
    await api(s, '/rollouts/demo/start', { release: 'v2-renamed' })

    const [[end, report], answers] = await visiting(async () => {
      const end = await until('a decision in the shadow step', status, (st) => st.phase !== 'progressing', 60_000)
      // The report is built from the evidence kept in the rollout's state, which the decision was stored with.
      return [end, await diff()] as const
    })

    expect(end).toMatchObject({ phase: 'paused', weight: 0, step: { index: 0 }, lastDecision: { kind: 'pause' } })
    expect(end.lastDecision!.reason).toContain(ROUTE)
    expect(end.lastDecision!.reason).toContain('/name')

    expect(report).toMatchObject({ rolloutId: 'demo', release: 'v2-renamed', verdict: 'differs' })
    const route = report.routes.find((r) => r.route === ROUTE)!
    expect(route.compared).toBeGreaterThan(0)
    expect(route.noiseSampled).toBeGreaterThan(0)
    expect(route).toMatchObject({ statusMismatches: 0, canaryErrors: 0, stableErrors: 0 })
    // The rename: on every canary answer, never between two stable ones.
    expect(field(report, '/name')).toMatchObject({ kind: 'missing', verdict: 'differs', canaryRate: 1, noise: 0 })
    // Examples are of a difference chosen at random per point: some field has one, and where the rename's has one it
    // holds the user's name (JSON text) on the side that has the field.
    const name = /^"[A-Z][a-z]+ [A-Z][a-z]+ \d+"$/
    expect(route.fields.some((f) => f.example !== null)).toBe(true)
    const renamed = field(report, '/name')!.example
    if (renamed) expect([renamed.stable, renamed.canary]).toEqual([expect.stringMatching(name), '(absent)'])
    const added = field(report, '/fullName')!.example
    if (added) expect([added.stable, added.canary]).toEqual(['(absent)', expect.stringMatching(name)])
    expect(field(report, '/fullName')).toMatchObject({ kind: 'extra', verdict: 'differs', canaryRate: 1, noise: 0 })
    // The noise: different on every answer, stable's own included.
    for (const name of ['/at', '/requestId']) expect(field(report, name), name).toMatchObject({ kind: 'value', verdict: 'noise', canaryRate: 1, noiseRate: 1 })
    expect(
      route.fields
        .filter((f) => f.verdict === 'differs')
        .map((f) => f.field)
        .sort(),
    ).toEqual(['/fullName', '/name'])

    // Nobody was exposed: every answer came from stable, with stable's field name.
    expect(answers.length).toBeGreaterThan(0)
    const notStable = answers.filter((a) => a.status !== 200 || a.cohort !== 'stable' || a.origin !== 'stable' || !a.body.includes('"name":'))
    expect(notStable).toEqual([])
  }, 100_000)
})
