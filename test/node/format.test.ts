/**
 * @module
 * The CLI's status text for a rollout with audience rings, from a status object: the per-ring lines come from a
 * controller decision, which test/node/cli.test.ts's worker (no metrics source) never makes. Likewise `diff`'s text
 * for a report with routes and fields, which only mirrored traffic makes.
 */
import { describe, expect, it } from 'vitest'
import { type RolloutStatus, formatDiff, formatStatus, vitalRating } from '../../scripts/cli/format.ts'
import { diffReport } from '../dashboard/diff-data.ts'
import { clientErrors, rumOf, serverNumbers } from '../dashboard/rum-data.ts'

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

describe('formatStatus in a shadow step', () => {
  it('says the step mirrors, not serves, and that its minimum counts compared requests', () => {
    const base = status()
    const schedule = [{ shadow: 10, weight: 0, bakeMinutes: 15, minRequests: 1000, gate: false }, ...base.spec.schedule!.slice(1)]
    const text = formatStatus(
      status({
        spec: { ...base.spec, schedule },
        weight: 0,
        rings: {},
        step: { index: 0, weight: 0, bakeMinutes: 15, minRequests: 1000, startedAt: null, bakeEndsAt: null },
      }),
      NOW,
    )
    expect(row(text, 'step')).toEqual(['1/4 shadow step mirroring 10% of visitors, bake 15 min, min 1000 compared requests'])
  })
})

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

/**
 * A last decision as the controller writes it for a rollout with real-user signals, or without (`rum` undefined).
 * Typed loosely on purpose: a stored decision may predate the contract's shape, and malformed ones are tested.
 */
const rumDecision = (rum: Record<string, unknown> | undefined) =>
  ({
    kind: 'hold' as const,
    reason: 'healthy; baking, 3 min left',
    at: '2026-03-01T11:59:00.000Z',
    data: { verdict: 'healthy', numbers: serverNumbers, clientErrors, ...(rum ? { rum } : {}) },
  }) as unknown as NonNullable<RolloutStatus['lastDecision']>

// A fingerprint is the page's text: markup, and a terminal escape (clear screen).
const rum = rumOf('TypeError: <script>alert(1)</script>\u001b[2J at /app.js:12')

describe('formatStatus with real-user signals and 4xx', () => {
  const spec = { ...status().spec, judge: { latency: { quantile: 'p95' } } } as unknown as RolloutStatus['spec']

  it("prints the server's figures, the 4xx and the real-user block after the decision, stable / canary", () => {
    const lines = formatStatus(status({ spec, rings: {}, lastDecision: rumDecision(rum) }), NOW).split('\n')
    const at = lines.findIndex((l) => l.startsWith('  decision  hold at'))
    expect(lines.slice(at + 1, at + 7)).toEqual([
      '  server    requests stable 900 / canary 100, 5xx 0.33 % / 2 %, p95 110 ms / 152 ms',
      '  4xx       stable 12 of 900 requests (1.33 %) / canary 5 of 100 (5 %)',
      '  real-user page views stable 1200 / canary 130 (since the release began 5400 / 610), with an error 0.5 % / 3.08 %; ' +
        'LCP p75 2100 ms (good) / 2900 ms (needs improvement); INP p75 180 ms (good) / 520 ms (poor); CLS p75 0.05 (good) / -',
      '            left without the RUM script for their CSP: stable 0 / canary 4 HTML answers',
      // A fingerprint is the page's text: it reaches the terminal without its control characters.
      '            new in canary: TypeError: <script>alert(1)</script>?[2J at /app.js:12 (37 clients)',
      '            canary error: ReferenceError: gtag is not defined at /vendor.js:1 (1 client)',
    ])
    expect(lines[at + 7]).toMatch(/^ {2}stable {4}https:/)
  })

  it('prints no real-user line without beacons, and neither 4xx nor server lines for a decision without them', () => {
    const text = formatStatus(status({ spec, rings: {}, lastDecision: rumDecision(undefined) }), NOW)
    expect(row(text, 'server')).toHaveLength(1)
    expect(row(text, '4xx')).toHaveLength(1)
    expect(text).not.toMatch(/real-user|page view|new in canary|LCP/)
    const bare = formatStatus(
      status({ rings: {}, lastDecision: { kind: 'hold', reason: 'x', at: '2026-03-01T11:59:00.000Z', data: { verdict: 'hold' } } }),
      NOW,
    )
    expect(bare).toMatch(/\n {2}decision {2}hold at [^\n]*: x\n {2}stable /)
  })

  it('shows what is missing or malformed as a dash, and prints no CSP line while nothing was left untagged', () => {
    const odd = {
      injection: { stable: { injected: 3, csp: 0 }, canary: { injected: 3, csp: 0 } },
      window: { stable: { pageViews: 'many', errored: 0 }, canary: { pageViews: 0, errored: 0 } },
      vitals: { stable: { lcp: { p75: 4100, n: 3 } }, canary: null },
      canaryErrors: [null, { fingerprint: 5 }, { fingerprint: 'Error: x'.padEnd(400, 'y'), clients: 2 }],
    }
    const lines = formatStatus(status({ spec, rings: {}, lastDecision: rumDecision(odd) }), NOW).split('\n')
    expect(lines.filter((l) => l.startsWith('  real-user '))).toEqual([
      '  real-user page views stable - / canary 0, with an error - / -; LCP p75 4100 ms (poor) / -',
    ])
    expect(lines.some((l) => l.includes('CSP'))).toBe(false)
    const errors = lines.filter((l) => l.includes('canary error:'))
    expect(errors).toHaveLength(1)
    expect(errors[0]!.length).toBeLessThan(360)
    expect(errors[0]).toMatch(/^ {12}canary error: Error: xy+… \(2 clients\)$/)
  })

  it('rates vitals as web.dev does', () => {
    expect([2500, 2501, 4000, 4001].map((v) => vitalRating('lcp', v))).toEqual(['good', 'needs improvement', 'needs improvement', 'poor'])
    expect([200, 500, 501].map((v) => vitalRating('inp', v))).toEqual(['good', 'needs improvement', 'poor'])
    expect([0.1, 0.25, 0.26].map((v) => vitalRating('cls', v))).toEqual(['good', 'needs improvement', 'poor'])
  })
})

describe('formatDiff', () => {
  it('prints the verdict and counts, a line per route, and per field its rates with the example pair indented', () => {
    expect(formatDiff(diffReport()).split('\n')).toEqual([
      'web  differs: 240 compared, 50 noise-sampled (release v2, mirroring 10% of visitors; 2026-03-01T11:00:00.000Z to 2026-03-01T11:59:00.000Z)',
      '  /api/users/:id  200 compared, 40 noise-sampled, 0 status mismatches, errors canary 0 / stable 0',
      '    differs missing /name  canary 12.0 % (24)  noise 0.0 % (0/40)',
      // An origin's value reaches the terminal quoted, and without its control characters.
      '        stable "<img src=x onerror=alert(1)>\\u001b[2J?"',
      '        canary ""',
      '    pending type    /age  canary 1.5 % (3)  noise 0.0 % (0/40)',
      '        stable "42"',
      '        canary "\\"42\\""',
      '    noise   value   /at  canary 100.0 % (200)  noise 100.0 % (40/40)',
      '  /api/orders  40 compared, 0 noise-sampled, 2 status mismatches, errors canary 2 / stable 0',
      '    differs value   status  canary 5.0 % (2)  noise - (0/0)',
      '        stable "200"',
      '        canary "500"',
    ])
  })

  it('says so before any mirrored request, and names no mirroring outside a shadow step', () => {
    const empty = diffReport({ shadowWeight: 0, since: null, until: null, compared: 0, noiseSampled: 0, verdict: 'pending', routes: [] })
    expect(formatDiff(empty)).toBe('web  pending: 0 compared, 0 noise-sampled (release v2)\n  no mirrored request compared yet')
  })
})
