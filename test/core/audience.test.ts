import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { inRange, parseAddress, parseCidr } from '../../src/core/audience/cidr.ts'
import { compileAudience, lazyAddress } from '../../src/core/audience/match.ts'
import { compileRings, ringOf } from '../../src/core/audience/rings.ts'
import { Audience, Audiences } from '../../src/core/audience/schema.ts'
import { cookieValue } from '../../src/core/cohort/assign.ts'
import { bucketOf, inCanary } from '../../src/core/cohort/hash.ts'
import { type RingStep, ringProblems, weightsAt } from '../../src/core/rollout/rings.ts'

const view = (o: { headers?: Record<string, string>; ip?: string; cf?: Record<string, unknown> } = {}) => {
  const headers = new Headers(o.headers)
  return { headers, cookie: (name: string) => cookieValue(headers.get('cookie') ?? '', name), address: lazyAddress(o.ip ?? ''), cf: o.cf }
}
const matcher = (a: z.input<typeof Audience>) => compileAudience(z.parse(Audience, a))

describe('addresses and ranges', () => {
  it('reads IPv4, IPv6 in every notation, mapped IPv4, and ranges of both', () => {
    expect(parseAddress('203.0.113.7')).toEqual({ v: 4, words: [0xcb007107] })
    expect(parseAddress('::ffff:203.0.113.7')).toEqual({ v: 4, words: [0xcb007107] })
    expect(parseAddress('2001:db8::1')).toEqual(parseAddress('2001:0db8:0000:0000:0000:0000:0000:0001'))
    expect(parseAddress('::')).toEqual({ v: 6, words: [0, 0, 0, 0] })
    for (const bad of ['', '1.2.3', '1.2.3.256', '2001:db8::1::2', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', 'localhost'])
      expect(parseAddress(bad), bad).toBeNull()
    const v4 = parseCidr('203.0.113.0/24')!
    expect(inRange(parseAddress('203.0.113.200')!, v4)).toBe(true)
    expect(inRange(parseAddress('203.0.114.1')!, v4)).toBe(false)
    const v6 = parseCidr('2001:db8:abcd::/48')!
    expect(inRange(parseAddress('2001:db8:abcd:12::1')!, v6)).toBe(true)
    expect(inRange(parseAddress('2001:db8:abce::1')!, v6)).toBe(false)
    expect(inRange(parseAddress('203.0.113.7')!, v6)).toBe(false)
    expect(inRange(parseAddress('198.51.100.9')!, parseCidr('::ffff:198.51.100.0/120')!)).toBe(true)
    expect(inRange(parseAddress('8.8.8.8')!, parseCidr('0.0.0.0/0')!)).toBe(true)
    for (const bad of ['203.0.113.0/33', '2001:db8::/129', '1.2.3.4/', '1.2.3.4/x', '/24']) expect(parseCidr(bad), bad).toBeNull()
  })

  it('agrees with a bit-by-bit comparison on random IPv4 ranges, and never throws', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (a, b, prefix) => {
        const bits = (ip: string) =>
          ip
            .split('.')
            .map((o) => Number(o).toString(2).padStart(8, '0'))
            .join('')
        expect(inRange(parseAddress(a)!, parseCidr(`${b}/${prefix}`)!)).toBe(bits(a).slice(0, prefix) === bits(b).slice(0, prefix))
      }),
    )
    fc.assert(fc.property(fc.string(), (s) => void parseCidr(s)))
  })
})

describe('audiences', () => {
  it('match every kind of condition, ANDing conditions and ORing values', () => {
    const staff = matcher({ header: { name: 'X-Staff', values: ['1', 'yes'] } })
    expect(staff(view({ headers: { 'x-staff': ' yes ' } }))).toBe(true)
    expect(staff(view({ headers: { 'x-staff': 'no' } }))).toBe(false)
    expect(matcher({ cookie: { name: 'beta', values: ['on'] } })(view({ headers: { cookie: 'a=1; beta=on' } }))).toBe(true)
    const office = matcher({ ip: ['198.51.100.0/24', '2001:db8:1::/48'] })
    expect(office(view({ ip: '198.51.100.20' }))).toBe(true)
    expect(office(view({ ip: '2001:db8:1:5::9' }))).toBe(true)
    expect(office(view({ ip: '192.0.2.1' }))).toBe(false)
    expect(office(view({ ip: 'garbage' }))).toBe(false)
    expect(matcher({ country: ['NZ', 'AU'] })(view({ cf: { country: 'NZ' } }))).toBe(true)
    expect(matcher({ continent: ['OC'] })(view({ cf: { continent: 'EU' } }))).toBe(false)
    expect(matcher({ colo: ['AKL'] })(view({ cf: { colo: 'AKL' } }))).toBe(true)
    expect(matcher({ asn: [64500] })(view({ cf: { asn: 64500 } }))).toBe(true)
    // AND: New Zealand staff only.
    const nzStaff = matcher({ country: ['NZ'], header: { name: 'x-staff', values: ['1'] } })
    expect(nzStaff(view({ cf: { country: 'NZ' }, headers: { 'x-staff': '1' } }))).toBe(true)
    expect(nzStaff(view({ cf: { country: 'NZ' } }))).toBe(false)
    // No request.cf at all (tests, wrangler dev): cf conditions never match.
    expect(matcher({ country: ['NZ'] })(view())).toBe(false)
  })

  it('refuses invalid ranges, unknown country codes and empty audiences, naming the field', () => {
    const paths = (input: unknown) => (z.safeParse(Audiences, input).error?.issues ?? []).map((i) => i.path.join('.'))
    expect(paths({ nz: { country: ['NZ'] }, office: { ip: ['10.0.0.0/8'] } })).toEqual([])
    expect(paths({ office: { ip: ['10.0.0.0/33'] } })).toEqual(['office.ip.0'])
    expect(paths({ nz: { country: ['NZL'] } })).toEqual(['nz.country.0'])
    expect(paths({ nz: { country: ['nz'] } })).toEqual(['nz.country.0'])
    expect(paths({ eu: { continent: ['EUR'] } })).toEqual(['eu.continent.0'])
    expect(paths({ akl: { colo: ['akl'] } })).toEqual(['akl.colo.0'])
    expect(paths({ nobody: {} })).toEqual(['nobody'])
    expect(paths({ 'Bad Name': { country: ['NZ'] } })).toContain('Bad Name')
  })
})

describe('ring steps', () => {
  const schedule: RingStep[] = [
    { audience: 'staff', weight: 100 },
    { audience: 'nz', weight: 25 },
    { weight: 5 },
    { audience: 'nz', weight: 50 },
    { weight: 50 },
    { weight: 100 },
  ]

  it('gives each ring the highest weight any step so far gave it, and keeps a ring everyone has overtaken', () => {
    expect(weightsAt(schedule, -1)).toEqual({ global: 0, rings: {} })
    expect(weightsAt(schedule, 0)).toEqual({ global: 0, rings: { staff: 100 } })
    expect(weightsAt(schedule, 2)).toEqual({ global: 5, rings: { staff: 100, nz: 25 } })
    expect(weightsAt(schedule, 4)).toEqual({ global: 50, rings: { staff: 100, nz: 50 } })
    expect(weightsAt(schedule, 5)).toEqual({ global: 100, rings: { staff: 100, nz: 50 } })
    expect(ringProblems(schedule, new Set(['staff', 'nz']))).toEqual([])
  })

  it('names each step that is wrong', () => {
    expect(ringProblems([{ audience: 'nz', weight: 5 }, { weight: 100 }], new Set())).toEqual([[0, 'no audience "nz" is defined in audiences']])
    expect(ringProblems([{ weight: 10 }, { audience: 'nz', weight: 5 }, { weight: 100 }], new Set(['nz']))).toEqual([
      [1, 'audience "nz" at 5 % is not above everyone\'s 10 % at this step'],
    ])
    expect(ringProblems([{ audience: 'nz', weight: 50 }, { audience: 'nz', weight: 20 }, { weight: 100 }], new Set(['nz']))).toEqual([
      [1, 'weights for audience "nz" must rise strictly'],
    ])
  })

  it('never moves a visitor from canary back to stable while a rollout progresses (random schedules, audiences, visitors)', () => {
    const names = ['a', 'b', 'c']
    const step = fc.record({
      audience: fc.option(fc.constantFrom(...names), { nil: undefined }),
      weight: fc.integer({ min: 1, max: 10_000 }).map((bp) => bp / 100),
    })
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.string(), fc.subarray(names)), { minLength: 1, maxLength: 40 }),
        (steps, visitors) => {
          // Keep only the valid schedules: the schema refuses the others.
          const valid: RingStep[] = [...steps, { weight: 100 }]
          const everyone = valid.filter((s) => s.audience === undefined).map((s) => s.weight)
          if (ringProblems(valid, new Set(names)).length > 0 || everyone.some((w, i) => i > 0 && w <= everyone[i - 1]!)) return
          for (const [id, rings] of visitors) {
            const bucket = bucketOf('salt', id)
            let wasCanary = false
            for (let k = 0; k < valid.length; k++) {
              const w = weightsAt(valid, k)
              const weight = Math.max(w.global, ...rings.map((r) => w.rings[r] ?? 0))
              const canary = inCanary(bucket, Math.round(weight * 100))
              expect(!wasCanary || canary).toBe(true)
              wasCanary = canary
            }
            expect(wasCanary).toBe(true)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('compiled rings', () => {
  const audiences = z.parse(Audiences, { staff: { header: { name: 'x-staff', values: ['1'] } }, nz: { country: ['NZ'] } })

  it("puts a request in the ring that gives it the most canary, never below everyone's weight", () => {
    const rings = compileRings(audiences, { nz: 25, staff: 100, gone: 50 })
    expect(rings.map((r) => r.name)).toEqual(['staff', 'nz'])
    const both = view({ headers: { 'x-staff': '1' }, cf: { country: 'NZ' } })
    expect(ringOf(rings, 500, both)).toEqual({ ring: 'staff', weightBp: 10_000 })
    expect(ringOf(rings, 500, view({ cf: { country: 'NZ' } }))).toEqual({ ring: 'nz', weightBp: 2500 })
    // Once everyone's weight passes the ring's, the ring's visitors get everyone's, and are still its visitors.
    expect(ringOf(rings, 5000, view({ cf: { country: 'NZ' } }))).toEqual({ ring: 'nz', weightBp: 5000 })
    expect(ringOf(rings, 500, view({ cf: { country: 'DE' } }))).toEqual({ ring: '', weightBp: 500 })
    expect(ringOf([], 500, both)).toEqual({ ring: '', weightBp: 500 })
  })
})
