import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_FIELD_LENGTH, MAX_ROUTE_SEGMENTS, MAX_SEGMENT_LENGTH, routeOf } from '../../src/core/shadow/index.ts'

describe('routeOf', () => {
  it('writes numeric, UUID, long hex and long opaque segments as :id', () => {
    expect(routeOf('/users/42')).toBe('/users/:id')
    expect(routeOf('/users/42/orders/7')).toBe('/users/:id/orders/:id')
    expect(routeOf('/o/3F2504E0-4F89-11D3-9A0C-0305E82C3301')).toBe('/o/:id')
    expect(routeOf('/blobs/0123456789abcdef')).toBe('/blobs/:id')
    expect(routeOf('/blobs/deadbeefcafebabe0001')).toBe('/blobs/:id')
    expect(routeOf('/s/01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe('/s/:id')
    expect(routeOf('/t/dGhpcyBpcyBhIHRva2VuIDEyMw_-')).toBe('/t/:id')
  })

  it('keeps words, short hex, versions and long segments without a digit', () => {
    expect(routeOf('/')).toBe('/')
    expect(routeOf('/api/v2/users')).toBe('/api/v2/users')
    expect(routeOf('/cafe/beef')).toBe('/cafe/beef')
    expect(routeOf('/0123456789abcde')).toBe('/0123456789abcde')
    expect(routeOf('/a-long-article-slug-without-any-digits')).toBe('/a-long-article-slug-without-any-digits')
    expect(routeOf('/files/report-2024.pdf')).toBe('/files/report-2024.pdf')
    expect(routeOf('/users/')).toBe('/users/')
  })

  it('leaves out the query string and fragment, and reads a path without its leading slash', () => {
    expect(routeOf('/users/42?tab=orders/7')).toBe('/users/:id')
    expect(routeOf('/docs#section/9')).toBe('/docs')
    expect(routeOf('')).toBe('/')
    expect(routeOf('?q=1')).toBe('/')
    expect(routeOf('users/42')).toBe('/users/:id')
  })

  it('leaves percent-encoding as it is', () => {
    expect(routeOf('/search/caf%C3%A9')).toBe('/search/caf%C3%A9')
    expect(routeOf('/a%2Fb/12')).toBe('/a%2Fb/:id')
  })

  it(`cuts segments to ${MAX_SEGMENT_LENGTH} characters, keeps ${MAX_ROUTE_SEGMENTS} segments and ${MAX_FIELD_LENGTH} characters`, () => {
    expect(routeOf(`/${'w'.repeat(100)}`)).toBe(`/${'w'.repeat(MAX_SEGMENT_LENGTH)}`)
    // A token whose only digit lies beyond the cut is still an id.
    expect(routeOf(`/${'w'.repeat(100)}1`)).toBe('/:id')
    expect(routeOf('/a/b/c/d/e/f/g/h')).toBe('/a/b/c/d/e/f/g/h')
    expect(routeOf('/a/b/c/d/e/f/g/h/i')).toBe('/a/b/c/d/e/f/g/h/…')
    expect(routeOf(`/a/b/c/d/e/f/g/h/${'1/'.repeat(10_000)}`)).toBe('/a/b/c/d/e/f/g/h/…')
    const long = `/${'p'.repeat(64)}/${'q'.repeat(64)}/${'r'.repeat(64)}/${'s'.repeat(64)}`
    expect(routeOf(long)).toBe(`/${'p'.repeat(64)}/${'q'.repeat(64)}/${'r'.repeat(64)}/…`)
  })
})

/** Path segments that are never ids: short lower-case words (no digit, too short for hex or a token). */
const word = fc.stringMatching(/^[g-z]{1,10}$/)
const id = fc.oneof(
  fc.nat().map(String),
  fc.uuid(),
  fc.stringMatching(/^[0-9a-f]{16,40}$/),
  fc.tuple(fc.stringMatching(/^[A-Za-z_-]{23,40}$/), fc.nat(9)).map(([s, d]) => s + d),
)
/** Segments about as long as the cut, that are tokens only in part: what they read as must not change when cut. */
const nearTheCut = fc.tuple(fc.stringMatching(/^[A-Za-z0-9_-]{56,72}$/), fc.constantFrom('.', '~', '%2E', '')).map(([s, end]) => s + end)
const template = fc.array(
  fc.oneof(
    word.map((w) => ({ w })),
    fc.constant(null),
  ),
  { maxLength: 12 },
)
const fill = (slots: ({ w: string } | null)[], ids: string[]) => `/${slots.map((s, i) => (s === null ? ids[i % ids.length]! : s.w)).join('/')}`
const path = fc.oneof(
  fc.string(),
  fc.webPath(),
  fc.array(fc.oneof(word, id, fc.string({ maxLength: 80 }), nearTheCut), { maxLength: 12 }).map((s) => `/${s.join('/')}`),
)

describe('routeOf: laws', () => {
  it('is its own fixed point', () => {
    fc.assert(
      fc.property(path, (p) => {
        const route = routeOf(p)
        expect(routeOf(route)).toBe(route)
      }),
      { numRuns: 1_000 },
    )
  })

  it('maps paths that differ only in their ids to one route', () => {
    fc.assert(
      fc.property(template, fc.array(id, { minLength: 1 }), fc.array(id, { minLength: 1 }), (slots, a, b) => {
        expect(routeOf(fill(slots, a))).toBe(routeOf(fill(slots, b)))
      }),
    )
  })

  it(`never throws, starts with a slash and stays within ${MAX_FIELD_LENGTH} characters and ${MAX_ROUTE_SEGMENTS} segments (and the mark)`, () => {
    fc.assert(
      fc.property(fc.oneof(path, fc.string({ unit: 'binary', maxLength: 2_000 })), (p) => {
        const route = routeOf(p)
        expect(route.startsWith('/')).toBe(true)
        expect(route.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH)
        const segments = route.slice(1).split('/')
        expect(segments.length).toBeLessThanOrEqual(MAX_ROUTE_SEGMENTS + 1)
        if (segments.length > MAX_ROUTE_SEGMENTS) expect(segments.at(-1)).toBe('…')
        for (const s of segments) expect(s.length).toBeLessThanOrEqual(MAX_SEGMENT_LENGTH)
      }),
      { numRuns: 1_000 },
    )
  })
})
