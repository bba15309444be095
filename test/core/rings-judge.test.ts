import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { type CohortCounts, type JudgeState, type WindowStats, initialJudgeState, judge } from '../../src/core/judge/judge.ts'
import { EVERYONE_ELSE, judgeRings } from '../../src/core/judge/rings.ts'
import { JudgeConfig } from '../../src/core/judge/schema.ts'

const cfg = z.parse(JudgeConfig, {})
const MINUTE = 60_000

/** Each request from its own fresh client, as in judge.test.ts. */
const c = (requests: number, errors: number): CohortCounts => ({
  requests,
  errors,
  latencyMs: { p50: 80, p95: 200, p99: 300 },
  clients: { seen: requests, failing: errors, fresh: requests, firstFailures: errors, cappedRequests: requests },
})
const win = (t: number, stable: CohortCounts, canary: CohortCounts): WindowStats => ({ start: t * MINUTE, end: (t + 1) * MINUTE, stable, canary })
const sum = (a: CohortCounts, b: CohortCounts) => c(a.requests + b.requests, a.errors + b.errors)

describe('judgement per ring', () => {
  it('rolls back a regression that only one ring sees, naming the ring, before the global comparison would', () => {
    // 6000 requests a minute; New Zealand is 10 % of them at a 25 % ring weight, everyone else at 5 %.
    // Stable errs at 1 % everywhere; the canary errs at 3.3 % in New Zealand and never elsewhere, so globally it looks
    // only slightly worse than stable (1.2 %): averaged over the world, the regression hides.
    const weights = { global: 5, rings: { nz: 25 } }
    let global: JudgeState = initialJudgeState()
    let alone: JudgeState = initialJudgeState()
    let rings: Record<string, unknown> = {}
    let caught: { reasons: string[]; globalAlone: string } | null = null
    for (let t = 0; t < 60 && !caught; t++) {
      const nz = win(t, c(450, 5), c(150, 5))
      const rest = win(t, c(5130, 51), c(270, 0))
      const all = win(t, sum(nz.stable, rest.stable), sum(nz.canary, rest.canary))
      const out = judgeRings(global, rings, all, { nz, [EVERYONE_ELSE]: rest }, cfg, weights, true)
      const g = judge(alone, all, cfg, { weight: 5, checkSplit: false })
      global = out.verdict.state
      alone = g.state
      rings = out.states
      if (out.verdict.verdict === 'rollback') caught = { reasons: out.verdict.reasons, globalAlone: g.verdict }
    }
    expect(caught).not.toBeNull()
    expect(caught!.reasons[0]).toMatch(/^ring nz \(25 %\): canary errors are disproportionate/)
    expect(caught!.globalAlone).not.toBe('rollback')
  })

  it("judges a ring at 100 % against everyone's stable, and says the comparison is weaker", () => {
    const weights = { global: 0, rings: { staff: 100 } }
    const staff = win(0, c(0, 0), c(800, 4))
    const rest = win(0, c(9000, 90), c(0, 0))
    const all = win(0, rest.stable, staff.canary)
    const out = judgeRings(initialJudgeState(), {}, all, { staff, [EVERYONE_ELSE]: rest }, cfg, weights, true)
    expect(out.rings.staff!.verdict).toBe('hold')
    expect(out.verdict.reasons.join(' ')).toMatch(/ring staff is at 100 %: no stable visitors of its own/)
    // Globally, the staff's canary against everyone's stable: healthy here, with the caveat in the reasons.
    expect(out.verdict.verdict).toBe('healthy')
  })

  it("checks the split per ring against that ring's weight, not globally", () => {
    const weights = { global: 10, rings: { nz: 50 } }
    // Globally the canary has 18 % of requests, which matches no single weight; per ring both splits are right.
    const nz = win(0, c(1000, 10), c(1000, 10))
    const rest = win(0, c(9000, 90), c(1000, 10))
    const all = win(0, sum(nz.stable, rest.stable), sum(nz.canary, rest.canary))
    expect(judgeRings(initialJudgeState(), {}, all, { nz, [EVERYONE_ELSE]: rest }, cfg, weights, true).verdict.verdict).not.toBe('pause')
    // A ring whose canary gets far less than its weight is a broken split: pause, naming the ring.
    const broken = win(0, c(1800, 18), c(200, 2))
    const out = judgeRings(initialJudgeState(), {}, all, { nz: broken, [EVERYONE_ELSE]: rest }, cfg, weights, true)
    expect(out.verdict.verdict).toBe('pause')
    expect(out.verdict.reasons[0]).toMatch(/^ring nz \(50 %\): sample ratio mismatch/)
  })

  it("compares within rings, so a ring whose baseline differs from everyone else's does not read as a worse release", () => {
    // Staff at 50 %, everyone else at 0 %; staff err at 3 % in both cohorts, everyone else at 1 %. Pooled, the canary
    // (all staff) would look 2.5x worse than stable (mostly everyone else) in every window.
    const weights = { global: 0, rings: { staff: 50 } }
    let global: JudgeState = initialJudgeState()
    let pooled: JudgeState = initialJudgeState()
    let rings: Record<string, unknown> = {}
    const verdicts: string[] = []
    let pooledRollback = false
    for (let t = 0; t < 30; t++) {
      const staff = win(t, c(1000, 30), c(1000, 30))
      const rest = win(t, c(9000, 90), c(0, 0))
      const all = win(t, sum(staff.stable, rest.stable), staff.canary)
      const out = judgeRings(global, rings, all, { staff, [EVERYONE_ELSE]: rest }, cfg, weights, true)
      global = out.verdict.state
      rings = out.states
      verdicts.push(out.verdict.verdict)
      const p = judge(pooled, all, cfg, { weight: 0, checkSplit: false })
      pooled = p.state
      if (p.verdict === 'rollback') pooledRollback = true
    }
    expect(pooledRollback).toBe(true)
    expect(verdicts).not.toContain('rollback')
    expect(verdicts.at(-1)).toBe('healthy')
  })

  it("pauses, naming the weaker comparison, when a ring at 100 % looks worse only against everyone else's stable", () => {
    const weights = { global: 0, rings: { staff: 100 } }
    let global: JudgeState = initialJudgeState()
    let rings: Record<string, unknown> = {}
    let last = ''
    let reasons: string[] = []
    for (let t = 0; t < 30 && last !== 'pause'; t++) {
      const staff = win(t, c(0, 0), c(1000, 30))
      const rest = win(t, c(9000, 90), c(0, 0))
      const out = judgeRings(global, rings, win(t, rest.stable, staff.canary), { staff, [EVERYONE_ELSE]: rest }, cfg, weights, true)
      global = out.verdict.state
      rings = out.states
      last = out.verdict.verdict
      reasons = out.verdict.reasons
      expect(last).not.toBe('rollback')
    }
    expect(last).toBe('pause')
    expect(reasons[0]).toMatch(/^ring staff \(100 %\) against everyone else's stable, a weaker comparison \(another audience\)/)
  })

  it('keeps the evidence of a ring that had no rows in a window, in its own state and in the stratified sum', () => {
    const weights = { global: 5, rings: { nz: 25 } }
    const nz = win(0, c(450, 5), c(150, 5))
    const rest = win(0, c(5130, 51), c(270, 3))
    const first = judgeRings(
      initialJudgeState(),
      {},
      win(0, sum(nz.stable, rest.stable), sum(nz.canary, rest.canary)),
      { nz, [EVERYONE_ELSE]: rest },
      cfg,
      weights,
      true,
    )
    const quiet = win(1, c(5130, 51), c(270, 3))
    const second = judgeRings(first.verdict.state, first.states, quiet, { [EVERYONE_ELSE]: quiet }, cfg, weights, true)
    expect(second.states.nz).toEqual(first.states.nz)
    expect(second.verdict.state.canary.requests).toBe(first.verdict.state.canary.requests + 270)
    const logLR = (st: JudgeState) => st.evidence.find((e) => e.theta === 2)!.logLR
    expect(logLR(second.verdict.state)).toBeCloseTo(logLR(second.states.nz!) + logLR(second.states[EVERYONE_ELSE]!), 12)
  })
})
