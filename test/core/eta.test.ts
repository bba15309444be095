import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec, type RolloutSpecInput } from '../../src/core/config/schema.ts'
import { initialJudgeState } from '../../src/core/judge/judge.ts'
import { etaOf, recentRequestsPerMinute, startWarnings, trafficNeed } from '../../src/core/rollout/eta.ts'
import { type RolloutState, initialState } from '../../src/core/rollout/machine.ts'

const T0 = Date.UTC(2026, 10, 24, 6, 0, 0)
const MIN = 60_000
const at = (minutes: number) => new Date(Math.round(T0 + minutes * MIN)).toISOString()

/** The default schedule (2 % … 100 %) and judge, analysis lag 1 minute. */
const spec = (over: Partial<RolloutSpecInput> = {}) => z.parse(RolloutSpec, { id: 'web', stable: 'https://a.example', canary: 'https://b.example', ...over })

/** A rollout at `step` since T0, with windows judged for `judgedMinutes` holding these counts. */
function judged(
  step: number,
  weight: number,
  judgedMinutes: number,
  counts: { stepCanary: number; canary: number; stable: number },
  phase: RolloutState['phase'] = 'progressing',
): RolloutState {
  const judge = { ...initialJudgeState(), canary: { requests: counts.canary, errors: 0 }, stable: { requests: counts.stable, errors: 0 } }
  return {
    ...initialState(T0),
    phase,
    weight,
    step,
    release: 'v2',
    stepStartedAt: T0,
    windowEnd: T0 + judgedMinutes * MIN,
    evidence: { judge, step, stepCanaryRequests: counts.stepCanary, lastDataAt: null, since: T0 },
  }
}

describe('the traffic a schedule needs', () => {
  it('is set by judge.minRequests at the first step of the default schedule: 500 canary requests in 4 judged minutes at 2 %', () => {
    // 500 / (0.02 × (5 − 1)) = 6250 requests a minute, about 104 a second.
    expect(trafficNeed(spec())).toEqual({ requestsPerMinute: 6250, step: 0, field: 'judge.minRequests' })
  })

  it("is set by a step's own minRequests when that is the larger", () => {
    // Step 1: 100 / (0.1 × 9) = 111.1; judge: 50 / (0.1 × 9) = 55.6; step 2: 2000 / (0.5 × 4) = 1000.
    const s = spec({
      schedule: [{ weight: 10, bakeMinutes: 10, minRequests: 100 }, { weight: 50, bakeMinutes: 5, minRequests: 2000 }, { weight: 100 }],
      judge: { minRequests: 50 },
    })
    expect(trafficNeed(s)).toEqual({ requestsPerMinute: 1000, step: 1, field: 'schedule.1.minRequests' })
  })

  it('leaves out steps that bake no longer than the lag (they wait for their requests by design), and is null when nothing is asked', () => {
    expect(trafficNeed(spec({ schedule: [{ weight: 10, bakeMinutes: 1, minRequests: 100 }, { weight: 100 }] }))).toBeNull()
    expect(trafficNeed(spec({ schedule: [{ weight: 10, bakeMinutes: 5 }, { weight: 100 }], judge: { minRequests: 0 } }))).toBeNull()
  })
})

describe('the ETA of a status', () => {
  it('at 2 requests/s on the default schedule: the first step waits 3.5 hours for judge.minRequests, promotion after 5h 38m', () => {
    // 24 canary requests in 10 judged minutes at 2 %: 2.4 a minute, 120 a minute in total.
    const eta = etaOf(spec(), judged(0, 2, 10, { stepCanary: 24, canary: 24, stable: 1176 }))
    // 476 more canary requests at 2.4/min: 198.3 min after the 10 judged, plus the 1-minute lag.
    // Then, at 120/min in total: 5 % needs 200 (33.3 min + 1), 10 % 500 (41.7 + 1), 25 % 1000 (33.3 + 1), 50 % 1000 (16.7 + 1).
    expect(eta).toEqual({
      stepDoneAt: at(209 + 1 / 3),
      rolloutDoneAt: at(338 + 1 / 3),
      canaryRequestsPerMinute: 2.4,
      needs: { requestsPerMinute: 6250, step: 0, field: 'judge.minRequests' },
      basis:
        '2.4 canary requests/min over the 10m judged at 2 %; this step waits for judge.minRequests (476 more canary requests); ' +
        'the schedule keeps to its bake times from 104 requests/s in total (judge.minRequests at step 1, 2 requests/s now)',
    })
  })

  it('ends the step at its bake end when its data is already in, and leaves out the need when traffic meets it', () => {
    const s = spec({ schedule: [{ weight: 10, bakeMinutes: 10, minRequests: 100 }, { weight: 100 }], judge: { minRequests: 50 } })
    const eta = etaOf(s, judged(0, 10, 2, { stepCanary: 200, canary: 200, stable: 1800 }))
    expect(eta).toEqual({
      stepDoneAt: at(10),
      rolloutDoneAt: at(10),
      canaryRequestsPerMinute: 100,
      needs: { requestsPerMinute: 111, step: 0, field: 'schedule.0.minRequests' },
      basis: "100 canary requests/min over the 2m judged at 10 %; this step's bake time ends it",
    })
  })

  it('scales the canary traffic with the weight of later steps, and takes gates as approved when reached', () => {
    // 10 canary requests a minute at 10 %, so 50 at 50 %: that step's 1000 take 20 min (+ 1 lag) instead of its 5-minute bake.
    const s = spec({
      schedule: [{ weight: 10, bakeMinutes: 10 }, { weight: 50, bakeMinutes: 5, minRequests: 1000, gate: true }, { weight: 100 }],
      judge: { minRequests: 10 },
    })
    const eta = etaOf(s, judged(0, 10, 5, { stepCanary: 50, canary: 50, stable: 450 }))
    expect(eta).toMatchObject({ stepDoneAt: at(10), rolloutDoneAt: at(31), canaryRequestsPerMinute: 10 })
    expect(eta!.basis).toContain('gates taken as approved when reached')
  })

  it('has no times and no rate before the first window of the step is judged, but says what the schedule needs', () => {
    const eta = etaOf(spec(), judged(0, 2, 0, { stepCanary: 0, canary: 0, stable: 0 }))
    expect(eta).toEqual({
      stepDoneAt: null,
      rolloutDoneAt: null,
      canaryRequestsPerMinute: null,
      needs: { requestsPerMinute: 6250, step: 0, field: 'judge.minRequests' },
      basis: 'no canary traffic judged at 2 % yet; the schedule keeps to its bake times from 104 requests/s in total (judge.minRequests at step 1)',
    })
  })

  it('has a rate of 0 and no times when the judged windows had no canary requests', () => {
    const eta = etaOf(spec(), judged(0, 2, 15, { stepCanary: 0, canary: 0, stable: 0 }))
    expect(eta).toMatchObject({ stepDoneAt: null, rolloutDoneAt: null, canaryRequestsPerMinute: 0 })
    expect(eta!.basis).toContain('this step waits for schedule.0.minRequests (100 more canary requests)')
  })

  it('at a gate, gives the time from approval on, not a time of day', () => {
    const s = spec({ schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 50, bakeMinutes: 5, gate: true }, { weight: 100 }], judge: { minRequests: 100 } })
    const eta = etaOf(s, judged(0, 10, 3, { stepCanary: 300, canary: 300, stable: 2700 }, 'awaiting-approval'))
    expect(eta).toMatchObject({ stepDoneAt: null, rolloutDoneAt: null, canaryRequestsPerMinute: 100 })
    expect(eta!.basis).toBe(
      '100 canary requests/min over the 3m judged at 10 %; waiting for an operator to approve 50 %, then 100 % about 5m later at this rate',
    )
  })

  it('is null when the controller is not moving the rollout', () => {
    for (const phase of ['idle', 'paused', 'promoted', 'rolled-back'] as const) {
      expect(etaOf(spec(), judged(0, 2, 10, { stepCanary: 24, canary: 24, stable: 1176 }, phase))).toBeNull()
    }
  })
})

describe('the warning at start', () => {
  const point = (minute: number, requests: number) => ({ at: T0 + minute * MIN, stable: { requests: requests * 0.9 }, canary: { requests: requests * 0.1 } })

  it('measures the newest hour of judged windows, and has no rate without any', () => {
    const points = [point(-120, 6000), ...Array.from({ length: 30 }, (_, i) => point(i, 12))]
    expect(recentRequestsPerMinute(points, 60)).toBeCloseTo(12)
    expect(recentRequestsPerMinute(points.slice(-6), 10)).toBeCloseTo(72)
    expect(recentRequestsPerMinute([], 60)).toBeNull()
  })

  it('names the step and the requirement that hold a release back past a day, and the rate the schedule needs', () => {
    // 0.2 requests/s: 0.24 canary requests a minute at 2 %, so 500 take 34.7 hours; every later step's data 10x as long as at 2/s.
    expect(startWarnings(spec(), 12, T0)).toEqual([
      'at the 0.2 requests/s seen in the last hour of judged windows, this release would take about 2d 7h to reach 100 % (its bake times add up to 40m); ' +
        'step 1 (2 %) waits 1d 10h for judge.minRequests (500 canary requests at 0.24/min); ' +
        'the schedule keeps to its bake times from 104 requests/s in total (judge.minRequests at step 1)',
    ])
  })

  it('says nothing when the release would be done within a day, or without traffic history', () => {
    // 2 requests/s: 5h 38m (see the ETA above).
    expect(startWarnings(spec(), 120, T0)).toEqual([])
    expect(startWarnings(spec(), null, T0)).toEqual([])
  })

  it('says a release would never finish when the recent windows had no requests at all', () => {
    const [warning] = startWarnings(spec(), 0, T0)
    expect(warning).toContain('this release would never reach 100 %; step 1 (2 %) waits forever for schedule.0.minRequests (100 canary requests at 0/min)')
  })
})
