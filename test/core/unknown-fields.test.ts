import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import type { $ZodIssue } from 'zod/v4/core'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { parseStrict } from '../../src/core/config/unknown-fields.ts'

/** Each unknown key as `path.key`, from issues in zod's `unrecognized_keys` form. */
const unknownOf = (issues: readonly $ZodIssue[]) =>
  issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k].join('.')) : [])).sort()

const base = { id: 'web', stable: 'https://stable.example.com', canary: 'https://canary.example.com' }

describe('parseStrict on the rollout schema', () => {
  it('accepts every field the schema has, defaults included', () => {
    const full = z.parse(RolloutSpec, { ...base, salt: 's', identity: { header: 'x-user' }, notify: { webhook: 'https://hooks.example.com/x' } })
    expect(parseStrict(RolloutSpec, full)).toEqual({ success: true, data: full })
  })

  it('names unknown fields at every depth, through defaults, prefaults, arrays and unions', () => {
    const r = parseStrict(RolloutSpec, {
      ...base,
      judge: { maxCanaryErorRate: 0.001, latency: { maxRatoi: 2 }, mixture: { thetas: [2], wieghts: [1] } },
      schedule: [{ weight: 10 }, { weight: 100, wieght: 5 }],
      cookie: { nmae: 'x', secure: 'auto' },
      cokie: {},
    })
    expect(r.success).toBe(false)
    if (r.success) return
    expect(unknownOf(r.issues)).toEqual([
      'cokie',
      'cookie.nmae',
      'judge.latency.maxRatoi',
      'judge.maxCanaryErorRate',
      'judge.mixture.wieghts',
      'schedule.1.wieght',
    ])
  })

  it('names unknown fields next to the other errors of a failed parse', () => {
    const r = parseStrict(RolloutSpec, { ...base, canary: 'ftp://x', failover: { enabled: 'yes', retires: 2 }, schedule: [{ weight: 10 }, { wieght: 100 }] })
    expect(r.success).toBe(false)
    if (r.success) return
    expect(unknownOf(r.issues)).toEqual(['failover.retires', 'schedule.1.wieght'])
    expect(r.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['canary', 'failover.enabled', 'schedule.1.weight']))
  })

  it('never throws on arbitrary JSON, however deeply it nests', () => {
    let deep: unknown = {}
    for (let i = 0; i < 50_000; i++) deep = [deep]
    expect(parseStrict(RolloutSpec, { ...base, cookie: deep, judge: { latency: deep } }).success).toBe(false)
    fc.assert(fc.property(fc.jsonValue(), (v) => void parseStrict(RolloutSpec, v)))
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('cookie', 'judge', 'schedule', 'overrides', 'x'), fc.jsonValue()),
        (over) => void parseStrict(RolloutSpec, { ...base, ...over }),
      ),
    )
  })
})

describe('parseStrict agrees with a strict twin of the schema', () => {
  // The shapes of the config schema in small: defaults, a prefault, an optional object, arrays of objects, a union and refinements.
  const leaf = (strict: boolean) => (strict ? z.strictObject : z.object)({ e: z.boolean(), f: z._default(z.union([z.boolean(), z.literal('auto')]), 'auto') })
  const small = (strict: boolean) => {
    const object = strict ? z.strictObject : z.object
    return object({
      a: z._default(z.number(), 1),
      b: z.optional(object({ c: z.string(), d: z._default(z.array(leaf(strict)), []) }).check(z.refine((b) => b.c !== 'no'))),
      g: z.prefault(object({ h: z._default(z.int(), 3), i: z.optional(z.array(z.string())) }), {}),
    })
  }
  const lenient = small(false)
  const strict = small(true)

  // JSON whose keys are mostly the schema's own, so inputs reach every depth; "__proto__" is a key JSON.parse can make.
  const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'x', '__proto__')
  const { json } = fc.letrec((tie) => ({
    json: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), tie('object'), fc.array(tie('json'), { maxLength: 3 })),
    object: fc.dictionary(keys, tie('json'), { maxKeys: 5 }),
  }))

  it('reports exactly the keys the strict schema refuses, and accepts exactly what it accepts', () => {
    fc.assert(
      fc.property(json, (input) => {
        const ours = parseStrict(lenient, input)
        const theirs = z.safeParse(strict, input)
        expect(ours.success).toBe(theirs.success)
        if (ours.success && theirs.success) expect(ours.data).toEqual(theirs.data)
        if (!ours.success && !theirs.success) expect(unknownOf(ours.issues)).toEqual(unknownOf(theirs.error.issues))
      }),
      { numRuns: 2000 },
    )
  })
})
