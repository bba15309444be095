/**
 * @module
 * A shadow step's diff report as core builds it (src/core/shadow/report.ts), shared by the CLI's text tests and the
 * dashboard's panel tests: a renamed field, a type change, a status mismatch and noise, with origin values that
 * hold markup, a terminal escape and a bidi override (an origin's answer is not ours to trust).
 */
import type { ReportField, ShadowReport } from '../../src/core/shadow/report.ts'

export const EVIL_VALUE = '<img src=x onerror=alert(1)>\u001b[2J\u202e'

const field = (over: Partial<ReportField> & Pick<ReportField, 'field' | 'kind' | 'verdict'>): ReportField => ({
  canary: 0,
  canaryRate: 0,
  noise: 0,
  noiseRate: 0,
  example: null,
  ...over,
})

export const diffReport = (over: Partial<ShadowReport> = {}): ShadowReport => ({
  rolloutId: 'web',
  release: 'v2',
  shadowWeight: 10,
  since: '2026-03-01T11:00:00.000Z',
  until: '2026-03-01T11:59:00.000Z',
  compared: 240,
  noiseSampled: 50,
  verdict: 'differs',
  routes: [
    {
      route: '/api/users/:id',
      compared: 200,
      noiseSampled: 40,
      statusMismatches: 0,
      canaryErrors: 0,
      stableErrors: 0,
      fields: [
        field({ field: '/name', kind: 'missing', verdict: 'differs', canary: 24, canaryRate: 0.12, example: { stable: EVIL_VALUE, canary: '' } }),
        field({ field: '/age', kind: 'type', verdict: 'pending', canary: 3, canaryRate: 0.015, example: { stable: '42', canary: '"42"' } }),
        field({ field: '/at', kind: 'value', verdict: 'noise', canary: 200, canaryRate: 1, noise: 40, noiseRate: 1 }),
      ],
    },
    {
      route: '/api/orders',
      compared: 40,
      noiseSampled: 0,
      statusMismatches: 2,
      canaryErrors: 2,
      stableErrors: 0,
      fields: [
        field({ field: 'status', kind: 'value', verdict: 'differs', canary: 2, canaryRate: 0.05, noiseRate: null, example: { stable: '200', canary: '500' } }),
      ],
    },
  ],
  ...over,
})
