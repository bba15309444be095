/**
 * @module
 * The CLI's status text for a rollout with audience rings, from a status object: the per-ring lines come from a
 * controller decision, which test/node/cli.test.ts's worker (no metrics source) never makes.
 */
import { describe, expect, it } from 'vitest'
import { type RolloutStatus, formatStatus } from '../../scripts/cli/format.ts'

const NOW = Date.parse('2026-03-01T12:00:00.000Z')

/** What `ringsRecord` (src/core/rollout/decide.ts) writes for one ring: its verdict and main numbers. */
const ring = (label: string, weight: number, verdict: string, reason: string, n: number[]) => ({
  label,
  weight,
  verdict,
  reason,
  numbers: {
    windowStableRequests: n[0],
    windowStableErrors: n[1],
    windowCanaryRequests: n[2],
    windowCanaryErrors: n[3],
    canaryUnits: n[4],
    canaryUnitFailures: n[5],
    stableUnits: n[6],
    stableUnitFailures: n[7],
    logMixtureLR: null,
    srmPValue: 0.5,
  },
})

const status = (over: Partial<RolloutStatus> = {}): RolloutStatus =>
  ({
    id: 'web',
    spec: {
      stable: 'https://stable.example.com',
      canary: 'https://canary.example.com',
      match: { pathPrefix: '/' },
      schedule: [
        { audience: 'staff', weight: 50, bakeMinutes: 10, minRequests: 0, gate: false },
        { weight: 5, bakeMinutes: 10, minRequests: 0, gate: false },
        { audience: 'nz', weight: 25, bakeMinutes: 10, minRequests: 0, gate: true },
        { weight: 100, bakeMinutes: 0, minRequests: 0, gate: false },
      ],
    },
    phase: 'progressing',
    weight: 5,
    rings: { staff: 50 },
    revision: 3,
    release: 'v2',
    step: { index: 1, weight: 5, bakeMinutes: 10, minRequests: 0, startedAt: null, bakeEndsAt: null },
    lastDecision: null,
    updatedAt: '2026-03-01T11:59:00.000Z',
    eta: null,
    ...over,
  }) as RolloutStatus

const row = (text: string, key: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`  ${key.padEnd(9)} `))
    .map((l) => l.slice(12))

describe('formatStatus with rings', () => {
  it("prints the ring weights, then everyone else's, and names a gated ring step next by its audience", () => {
    const text = formatStatus(status(), NOW)
    expect(row(text, 'rings')).toEqual(['staff 50% (everyone else 5%)'])
    expect(row(text, 'step')).toEqual(['2/4 at 5%, bake 10 min'])
    expect(row(text, 'next')).toEqual(['ring nz at 25% after an operator approves'])
    // The rings line sits under everyone's weight.
    expect(text).toMatch(/\n {2}weight {4}5% to the canary\n {2}rings {5}/)
  })

  it('names the current ring step by its audience, and prints no rings line without rings', () => {
    const text = formatStatus(
      status({ weight: 0, rings: {}, step: { index: 0, weight: 50, audience: 'staff', bakeMinutes: 10, minRequests: 0, startedAt: null, bakeEndsAt: null } }),
      NOW,
    )
    expect(row(text, 'step')).toEqual(['1/4 ring staff at 50%, bake 10 min'])
    expect(row(text, 'next')).toEqual(['5%'])
    expect(row(text, 'rings')).toEqual([])
  })

  it('prints one line per ring judged by the last decision, under it, with its verdict and numbers', () => {
    const rings = {
      staff: ring('ring staff', 50, 'rollback', 'canary errors 4x stable', [400, 2, 410, 9, 120, 8, 118, 1]),
      'everyone-else': ring('everyone else', 5, 'hold', 'not enough data: canary 40 of 500 requests needed per cohort', [760, 3, 40, 0, 30, 0, 600, 2]),
    }
    const lastDecision = {
      kind: 'rollback' as const,
      reason: 'ring staff (50 %): canary errors 4x stable',
      at: '2026-03-01T11:59:00.000Z',
      data: { verdict: 'rollback', rings },
    }
    const lines = formatStatus(status({ lastDecision }), NOW).split('\n')
    const at = lines.findIndex((l) => l.startsWith('  decision  rollback at 2026-03-01T11:59:00.000Z: ring staff'))
    expect(at).toBeGreaterThan(0)
    expect(lines.slice(at + 1, at + 3)).toEqual([
      '            ring staff at 50%: rollback; requests/errors in the window canary 410/9, stable 400/2; fresh clients/first failures canary 120/8, stable 118/1; canary errors 4x stable',
      '            everyone else at 5%: hold; requests/errors in the window canary 40/0, stable 760/3; fresh clients/first failures canary 30/0, stable 600/2; not enough data: canary 40 of 500 requests needed per cohort',
    ])
    expect(lines[at + 3]).toMatch(/^ {2}stable {4}https:\/\/stable\.example\.com$/)
  })

  it('shows a missing number as a dash, skips what is not a ring, and a decision without rings adds no line', () => {
    const partial = { staff: { label: 'ring staff', weight: 50, verdict: 'hold', reason: '', numbers: { windowCanaryRequests: 3 } }, odd: null }
    const withRings = formatStatus(status({ lastDecision: { kind: 'hold', reason: 'x', at: '2026-03-01T11:59:00.000Z', data: { rings: partial } } }), NOW)
    expect(withRings).toContain(
      '\n            ring staff at 50%: hold; requests/errors in the window canary 3/-, stable -/-; fresh clients/first failures canary -/-, stable -/-\n',
    )
    const without = formatStatus(status({ lastDecision: { kind: 'hold', reason: 'x', at: '2026-03-01T11:59:00.000Z', data: { verdict: 'hold' } } }), NOW)
    expect(without).toMatch(/\n {2}decision {2}hold at [^\n]*: x\n {2}stable /)
  })
})
