import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type CapturedAnswer,
  type FieldDiff,
  MAX_EXAMPLE_LENGTH,
  MAX_FIELD_LENGTH,
  MAX_JSON_DEPTH,
  MAX_JSON_NODES,
  diffAnswers,
  isIgnored,
} from '../../src/core/shadow/index.ts'

const encoder = new TextEncoder()
const HASH_A = 'a'.repeat(64)
const HASH_B = 'b'.repeat(64)

/** A complete answer with the given body (a string is UTF-8 encoded, anything else but bytes is JSON). */
function answer(body: unknown, more: Partial<CapturedAnswer> = {}): CapturedAnswer {
  const bytes = body instanceof Uint8Array ? body : encoder.encode(typeof body === 'string' ? body : JSON.stringify(body))
  return { status: 200, headers: {}, body: bytes, complete: true, length: bytes.length, hash: HASH_A, ...more }
}

const json = (body: unknown, more: Partial<CapturedAnswer> = {}) => answer(body, { headers: { 'content-type': 'application/json' }, ...more })
const none = { ignore: [] }
const diff = (a: CapturedAnswer, b: CapturedAnswer, ignore: string[] = []) => diffAnswers(a, b, { ignore })
const fields = (a: CapturedAnswer, b: CapturedAnswer, ignore: string[] = []) => diff(a, b, ignore).diffs

describe('diffAnswers: status and headers', () => {
  it('reports a status change with both statuses as the example', () => {
    const d = diff(answer('ok'), answer('ok', { status: 503 }))
    expect(d.diffs).toEqual([{ field: 'status', kind: 'value' }])
    expect(d.count).toBe(1)
    expect(d.example).toEqual({ field: 'status', kind: 'value', stable: '200', canary: '503' })
  })

  it('compares only the status of an answer that never came', () => {
    const stable = json({ a: 1 }, { headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } })
    const gone: CapturedAnswer = { status: 0, headers: {}, body: new Uint8Array(), complete: true, length: 0, hash: null }
    expect(fields(stable, gone)).toEqual([{ field: 'status', kind: 'value' }])
    expect(fields(gone, stable)).toEqual([{ field: 'status', kind: 'value' }])
  })

  it('reports headers missing in the canary, extra in it, or with another value', () => {
    const stable = answer('x', { headers: { location: '/a', 'cache-control': 'max-age=60', etag: '"1"' } })
    const canary = answer('x', { headers: { location: '/b', etag: '"1"', vary: 'accept' } })
    const d = diff(stable, canary)
    expect(d.diffs).toEqual([
      { field: 'header:location', kind: 'value' },
      { field: 'header:cache-control', kind: 'missing' },
      { field: 'header:vary', kind: 'extra' },
    ])
    expect(d.example).toEqual({ field: 'header:location', kind: 'value', stable: '/a', canary: '/b' })
    expect(diff(canary, stable).example).toEqual({ field: 'header:location', kind: 'value', stable: '/b', canary: '/a' })
  })

  it('compares credential headers but never stores their values', () => {
    for (const name of ['set-cookie', 'authorization', 'proxy-authorization', 'cookie']) {
      const secret = diff(answer('x', { headers: { [name]: 'session=s3cret' } }), answer('x', { headers: { [name]: 'session=other' } }))
      expect(secret.diffs).toEqual([{ field: `header:${name}`, kind: 'value' }])
      expect(secret.example).toEqual({ field: `header:${name}`, kind: 'value', stable: '(not stored)', canary: '(not stored)' })
      const extra = diff(answer('x'), answer('x', { headers: { [name]: 'session=s3cret' } }))
      expect(extra.example).toEqual({ field: `header:${name}`, kind: 'extra', stable: '(absent)', canary: '(not stored)' })
    }
  })

  it('treats header names that are Object.prototype keys as plain names', () => {
    expect(fields(answer('x', { headers: { constructor: 'a' } }), answer('x'))).toEqual([{ field: 'header:constructor', kind: 'missing' }])
    expect(fields(answer('x'), answer('x', { headers: { toString: 'a' } }))).toEqual([{ field: 'header:toString', kind: 'extra' }])
  })
})

describe('diffAnswers: JSON bodies', () => {
  it('reports a renamed field as missing and extra, with its path', () => {
    const d = diff(json({ user: { id: 1, name: 'Ada' } }), json({ user: { id: 1, fullName: 'Ada' } }))
    expect(d.diffs).toEqual([
      { field: '/user/name', kind: 'missing' },
      { field: '/user/fullName', kind: 'extra' },
    ])
    expect(d.example).toEqual({ field: '/user/name', kind: 'missing', stable: '"Ada"', canary: '(absent)' })
  })

  it('reports a number turned into a string as a type change, and changed scalars as values', () => {
    const d = diff(json({ price: 10, n: null, ok: true, tag: 'a' }), json({ price: '10', n: null, ok: false, tag: 'b' }))
    expect(d.diffs).toEqual([
      { field: '/price', kind: 'type' },
      { field: '/ok', kind: 'value' },
      { field: '/tag', kind: 'value' },
    ])
    expect(d.example).toEqual({ field: '/price', kind: 'type', stable: '10', canary: '"10"' })
  })

  it('writes array elements as one field `*`, reports a length change at the array and compares the common prefix', () => {
    const stable = json({ items: [{ price: 1 }, { price: 2 }, { price: 3 }] })
    const canary = json({ items: [{ price: 1 }, { price: '2' }, { price: 4, extra: 1 }, { price: 5 }] })
    expect(fields(stable, canary)).toEqual([
      { field: '/items', kind: 'length' },
      // Element 1 finds a type change first; element 2's value change of the same field is not another field.
      { field: '/items/*/price', kind: 'type' },
      { field: '/items/*/extra', kind: 'extra' },
    ])
    expect(fields(canary, stable)).toEqual([
      { field: '/items', kind: 'length' },
      { field: '/items/*/price', kind: 'type' },
      { field: '/items/*/extra', kind: 'missing' },
    ])
    expect(diff(stable, canary).example).toEqual({
      field: '/items',
      kind: 'length',
      stable: '[{"price":1},{"price":2},{"price":3}]',
      canary: '[{"price":1},{"price":"2"},{"price":4,"extra":1},{"price":5}]',
    })
  })

  it('escapes `~` and `/` in keys as RFC 6901 says', () => {
    expect(fields(json({ 'a/b': 1, 'c~d': { '~/': 1 } }), json({ 'a/b': 2, 'c~d': { '~/': 2 } }))).toEqual([
      { field: '/a~1b', kind: 'value' },
      { field: '/c~0d/~0~1', kind: 'value' },
    ])
  })

  it('names a difference at the root `body`: another container, another scalar, another length', () => {
    expect(fields(json({ a: 1 }), json([1]))).toEqual([{ field: 'body', kind: 'type' }])
    expect(fields(json(1), json(2))).toEqual([{ field: 'body', kind: 'value' }])
    expect(fields(json([1, 2]), json([1]))).toEqual([{ field: 'body', kind: 'length' }])
    expect(fields(json([{ a: 1 }]), json([{ a: 2 }]))).toEqual([{ field: '/*/a', kind: 'value' }])
  })

  it('reports JSON on one side only as a type change of the body', () => {
    const html = answer('<h1>Bad gateway</h1>', { headers: { 'content-type': 'text/html' } })
    const d = diff(json({ a: 1 }), html, ['header:content-type'])
    expect(d.diffs).toEqual([{ field: 'body', kind: 'type' }])
    expect(d.example).toEqual({ field: 'body', kind: 'type', stable: '{"a":1}', canary: '<h1>Bad gateway</h1>' })
    expect(fields(json({ a: 1 }), json('{"a":'))).toEqual([{ field: 'body', kind: 'type' }])
  })

  it('ignores formatting and key order', () => {
    const a = answer(JSON.stringify({ a: 1, b: [1, { c: 2, d: 3 }] }), { headers: { 'content-type': 'application/problem+json; charset=utf-8' } })
    const b = answer('\n{ "b": [1, { "d": 3, "c": 2 }],\r\n  "a": 1.0 }\n', { headers: { 'content-type': 'Application/Problem+JSON' } })
    // Header values are compared as they are written; the bodies are equal.
    expect(fields(a, b)).toEqual([{ field: 'header:content-type', kind: 'value' }])
  })

  it('sniffs JSON when the content-type is not captured, and believes a declared non-JSON type', () => {
    expect(fields(answer(' {"a":1}'), answer('{"a":2}'))).toEqual([{ field: '/a', kind: 'value' }])
    const text = { headers: { 'content-type': 'text/plain' } }
    expect(fields(answer('{"a":1}', text), answer('{"a": 1}', text))).toEqual([{ field: 'body', kind: 'value' }])
  })

  it('cuts long field names and keeps them on one line', () => {
    const key = `x\n${'k'.repeat(300)}`
    const d = diff(json({ [key]: 1 }), json({ [key]: 2 }))
    expect(d.diffs).toEqual([{ field: `/x ${'k'.repeat(MAX_FIELD_LENGTH - 3)}`, kind: 'value' }])
  })

  it('cuts example values to 200 characters', () => {
    const d = diff(json({ text: 'a'.repeat(1000) }), json({ text: 'b'.repeat(1000) }))
    expect(d.example?.stable).toBe(`"${'a'.repeat(MAX_EXAMPLE_LENGTH - 2)}…`)
    expect(d.example?.canary).toHaveLength(MAX_EXAMPLE_LENGTH)
    const huge = Array.from({ length: 10_000 }, (_, i) => ({ i }))
    const big = diff(json(huge), json(huge.slice(1)))
    expect(big.diffs[0]).toEqual({ field: 'body', kind: 'length' })
    expect(big.example?.stable).toBe(`${JSON.stringify(huge).slice(0, MAX_EXAMPLE_LENGTH - 1)}…`)
  })

  it(`compares what lies deeper than ${MAX_JSON_DEPTH} levels as a whole, reported where it starts`, () => {
    const nest = (leaf: unknown, depth: number): unknown => (depth === 0 ? leaf : { a: nest(leaf, depth - 1) })
    expect(fields(json(nest(1, 40)), json(nest(2, 40)))).toEqual([{ field: '/a'.repeat(MAX_JSON_DEPTH), kind: 'value' }])
    expect(fields(json(nest(1, 40)), json(nest(1, 40)))).toEqual([])
    // Within the bound, the leaf itself.
    expect(fields(json(nest(1, MAX_JSON_DEPTH)), json(nest(2, MAX_JSON_DEPTH)))).toEqual([{ field: '/a'.repeat(MAX_JSON_DEPTH), kind: 'value' }])
    expect(fields(json(nest({ b: 1 }, MAX_JSON_DEPTH - 1)), json(nest({ b: 2 }, MAX_JSON_DEPTH - 1)))).toEqual([
      { field: `${'/a'.repeat(MAX_JSON_DEPTH - 1)}/b`, kind: 'value' },
    ])
  })

  it(`walks at most ${MAX_JSON_NODES} nodes, then compares the rest of each open container as a whole`, () => {
    const items = Array.from({ length: MAX_JSON_NODES }, (_, i) => ({ id: i }))
    const changed = items.map((item, i) => (i === items.length - 1 ? { id: -1 } : item))
    // The change lies beyond the budget: reported at the array whose rest holds it, not at `/items/*/id`.
    expect(fields(json({ items, tail: 1 }), json({ items: changed, tail: 2 }))).toEqual([
      { field: '/items', kind: 'value' },
      { field: 'body', kind: 'value' },
    ])
    expect(fields(json({ items, tail: 1 }), json({ items, tail: 1, more: 1 }))).toEqual([{ field: 'body', kind: 'value' }])
    expect(fields(json({ items }), json({ items }, { body: encoder.encode(JSON.stringify({ items }, null, 1)) }))).toEqual([])
    // Within it, the field.
    const few = items.slice(0, 100)
    expect(fields(json({ items: few }), json({ items: [...few.slice(0, 99), { id: -1 }] }))).toEqual([{ field: '/items/*/id', kind: 'value' }])
  })

  it('never throws on JSON nested far deeper than any stack', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000)
    const other = '['.repeat(200_000) + '1' + ']'.repeat(200_000)
    const d = diff(json(deep), json(other))
    expect(d.count).toBe(1)
    expect(d.diffs[0]?.field.startsWith('body') || d.diffs[0]?.field.startsWith('/*')).toBe(true)
  })
})

describe('diffAnswers: other bodies', () => {
  const html = { headers: { 'content-type': 'text/html; charset=utf-8' } }

  it('compares text after normalising line ends, trailing whitespace and trailing newlines', () => {
    expect(fields(answer('<p>a</p>\r\n<p>b</p>  \r\n\r\n', html), answer('<p>a</p>\n<p>b</p>', html))).toEqual([])
    const d = diff(answer('<p>a</p>\n<p>b</p>', html), answer('<p>a</p>\n<p>c</p>', html))
    expect(d.diffs).toEqual([{ field: 'body', kind: 'value' }])
    expect(d.example).toEqual({ field: 'body', kind: 'value', stable: '<p>a</p>\n<p>b</p>', canary: '<p>a</p>\n<p>c</p>' })
    // Leading whitespace is content.
    expect(fields(answer('a\n b', html), answer('a\nb', html))).toEqual([{ field: 'body', kind: 'value' }])
    // Undeclared, valid UTF-8 is text too.
    expect(fields(answer('héllo \n'), answer('héllo'))).toEqual([])
  })

  // A quadratic normaliser would take minutes here and trip the test's timeout; no timer is asserted.
  it('normalises a megabyte run of spaces', () => {
    const spaces = ' '.repeat(1 << 20)
    expect(fields(answer(`${spaces}x`, html), answer(`${spaces}y`, html))).toEqual([{ field: 'body', kind: 'value' }])
    expect(fields(answer(`${spaces}x \n`, html), answer(`${spaces}x`, html))).toEqual([])
  })

  it('compares binary bodies byte for byte, by length first', () => {
    const png = { headers: { 'content-type': 'image/png' } }
    const bytes = (...b: number[]) => new Uint8Array(b)
    expect(fields(answer(bytes(1, 2, 3), png), answer(bytes(1, 2, 3), png))).toEqual([])
    // Declared binary: no text normalisation, a trailing space is a difference.
    expect(fields(answer('a', png), answer('a ', png))).toEqual([{ field: 'body', kind: 'length' }])
    const d = diff(answer(bytes(1, 2, 3), { ...png, hash: HASH_A }), answer(bytes(1, 2, 4), { ...png, hash: HASH_B }))
    expect(d.diffs).toEqual([{ field: 'body', kind: 'value' }])
    expect(d.example).toEqual({ field: 'body', kind: 'value', stable: '(3 bytes, sha256 aaaaaaaaaaaa…)', canary: '(3 bytes, sha256 bbbbbbbbbbbb…)' })
    // Undeclared and not UTF-8: binary.
    expect(fields(answer(bytes(0xff, 0xfe)), answer(bytes(0xff, 0xfe, 0x20)))).toEqual([{ field: 'body', kind: 'length' }])
  })

  it('compares a body not read to its end by length, then hash, and gives no verdict when either is unknown', () => {
    const part = (length: number | null, hash: string | null) => answer('same first bytes', { complete: false, length, hash })
    expect(fields(part(100, HASH_A), part(101, HASH_A))).toEqual([{ field: 'body', kind: 'length' }])
    expect(fields(part(100, HASH_A), part(100, HASH_B))).toEqual([{ field: 'body', kind: 'value' }])
    expect(fields(part(100, HASH_A), part(100, HASH_A))).toEqual([])
    expect(fields(part(100, HASH_A), part(null, null))).toEqual([])
    expect(fields(answer('short'), part(null, null))).toEqual([])
    expect(diff(part(100, HASH_A), part(101, HASH_B)).example).toEqual({
      field: 'body',
      kind: 'length',
      stable: '(100 bytes, sha256 aaaaaaaaaaaa…)',
      canary: '(101 bytes, sha256 bbbbbbbbbbbb…)',
    })
  })
})

describe('diffAnswers: ignore list', () => {
  it('drops the fields it names and everything under a pointer', () => {
    const stable = json({ meta: { id: 1, at: 2 }, data: 1 }, { status: 200, headers: { 'content-type': 'application/json', date: 'a' } })
    const canary = json({ meta: { id: 2, at: 3 }, data: 2 }, { status: 201, headers: { 'content-type': 'application/json', date: 'b' } })
    const all = fields(stable, canary)
    expect(all.map((d) => d.field)).toEqual(['status', 'header:date', '/meta/id', '/meta/at', '/data'])
    const d = diff(stable, canary, ['/meta', 'header:date', 'status'])
    expect(d.diffs).toEqual([{ field: '/data', kind: 'value' }])
    expect(d.count).toBe(1)
    expect(d.example?.field).toBe('/data')
    expect(fields(answer('a'), answer('b'), ['body'])).toEqual([])
  })
})

/** Answers with a mix of bodies: JSON over a few shared keys (so the walk goes deep), text, bytes, cut bodies. */
const keys = fc.constantFrom('a', 'b', 'c/d', '~', '*', 'items')
const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, 1, -1.5, '', 'x', '1'),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keys, tie('value'), { maxKeys: 4 }),
  ),
})).value
const headerNames = fc.constantFrom('content-type', 'location', 'cache-control', 'set-cookie', 'etag', '__proto__', 'constructor')
const contentType = fc.constantFrom(undefined, 'application/json', 'text/plain', 'application/octet-stream', 'application/x+json')
const body = fc.oneof(
  jsonValue.map((v) => encoder.encode(JSON.stringify(v))),
  fc.string().map((s) => encoder.encode(s)),
  fc.uint8Array({ maxLength: 64 }),
)
const capturedAnswer: fc.Arbitrary<CapturedAnswer> = fc
  .record({
    status: fc.constantFrom(0, 200, 404, 500),
    headers: fc.dictionary(headerNames, fc.string(), { maxKeys: 3 }),
    type: contentType,
    body,
    complete: fc.boolean(),
    length: fc.option(fc.nat(100)),
    hash: fc.option(fc.constantFrom(HASH_A, HASH_B)),
  })
  .map(({ type, ...a }) => ({ ...a, headers: type === undefined ? a.headers : { ...a.headers, 'content-type': type } }))
/** A deterministic stream of numbers in [0, 1) from a seed (mulberry32), so a variant shrinks with its seed. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** A variant of a JSON value: now and then a node replaced, a key dropped or added, an array shortened or grown. */
function variant(v: unknown, rnd: () => number): unknown {
  const r = rnd()
  if (r < 0.1) return ['x', 1, null, [], {}][Math.floor(rnd() * 5)]
  if (Array.isArray(v)) {
    const out = v.map((x) => variant(x, rnd))
    if (r < 0.2) out.pop()
    else if (r < 0.3) out.push(1)
    return out
  }
  if (v === null || typeof v !== 'object') return v
  const out: Record<string, unknown> = {}
  for (const [k, x] of Object.entries(v)) if (rnd() > 0.1) out[k] = variant(x, rnd)
  if (r < 0.2) out.items = [1]
  return out
}

/** Pairs of complete JSON answers, one a variant of the other, so the laws are checked on the structural walk too. */
const pair = fc.oneof(
  fc.tuple(capturedAnswer, capturedAnswer),
  fc.tuple(jsonValue, fc.integer()).map(([v, seed]) => [json(v), json(variant(v, random(seed)))] as const),
)
const anything: fc.Arbitrary<CapturedAnswer> = fc.record({
  status: fc.integer(),
  headers: fc.dictionary(fc.string(), fc.string()),
  body: fc.oneof(
    fc.uint8Array(),
    fc.json().map((s) => encoder.encode(s)),
  ),
  complete: fc.boolean(),
  length: fc.option(fc.integer()),
  hash: fc.option(fc.string()),
})

const byField = (diffs: FieldDiff[]) => diffs.map((d) => `${d.kind} ${d.field}`).sort()
const SWAPPED = { missing: 'extra', extra: 'missing' } as const

describe('diffAnswers: laws', () => {
  it('finds nothing between an answer and itself, or a copy of it', () => {
    fc.assert(
      fc.property(capturedAnswer, (a) => {
        expect(diffAnswers(a, a, none)).toEqual({ diffs: [], count: 0, example: null })
        expect(diffAnswers(a, { ...a, headers: { ...a.headers }, body: a.body.slice() }, none).count).toBe(0)
      }),
    )
  })

  it('finds nothing between a JSON body and the same value reformatted', () => {
    fc.assert(
      fc.property(jsonValue, fc.boolean(), (v, declared) => {
        const headers: Record<string, string> = declared ? { 'content-type': 'application/json' } : {}
        const pretty = answer(JSON.stringify(v, null, 2), { headers })
        expect(fields(answer(JSON.stringify(v), { headers }), pretty)).toEqual([])
      }),
    )
  })

  it('swaps missing and extra, and keeps every other kind, when the answers swap', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const forward = byField(diffAnswers(a, b, none).diffs)
        const backward = diffAnswers(b, a, none).diffs.map((d) => ({
          field: d.field,
          kind: d.kind === 'missing' || d.kind === 'extra' ? SWAPPED[d.kind] : d.kind,
        }))
        expect(byField(backward)).toEqual(forward)
      }),
    )
  })

  it('reports each field once, counts them all, and gives the first as the example', () => {
    fc.assert(
      fc.property(pair, ([a, b]) => {
        const d = diffAnswers(a, b, none)
        expect(new Set(d.diffs.map((x) => x.field)).size).toBe(d.diffs.length)
        expect(d.count).toBe(d.diffs.length)
        expect(d.example === null).toBe(d.diffs.length === 0)
        if (d.example) expect({ field: d.example.field, kind: d.example.kind }).toEqual(d.diffs[0])
      }),
    )
  })

  it('drops exactly the fields the ignore list names', () => {
    fc.assert(
      fc.property(
        capturedAnswer,
        capturedAnswer,
        fc.array(fc.constantFrom('status', 'body', 'header:etag', '/a', '/items/*', '/c~1d', '/'), { maxLength: 3 }),
        (a, b, ignore) => {
          const all = diffAnswers(a, b, none).diffs
          const kept = diffAnswers(a, b, { ignore })
          expect(kept.diffs).toEqual(all.filter((d) => !isIgnored(d.field, ignore)))
          expect(kept.count).toBe(kept.diffs.length)
        },
      ),
    )
  })

  it('never throws, and keeps fields and example values short and on one line', () => {
    fc.assert(
      fc.property(fc.oneof(anything, capturedAnswer), fc.oneof(anything, capturedAnswer), fc.array(fc.string()), (a, b, ignore) => {
        const d = diffAnswers(a, b, { ignore })
        for (const { field } of d.diffs) {
          expect(field.length).toBeLessThanOrEqual(MAX_FIELD_LENGTH)
          expect(field).not.toMatch(/[\r\n]/)
          expect(field).not.toBe('')
          expect(isIgnored(field, ignore)).toBe(false)
        }
        if (d.example) {
          expect(d.example.stable.length).toBeLessThanOrEqual(MAX_EXAMPLE_LENGTH)
          expect(d.example.canary.length).toBeLessThanOrEqual(MAX_EXAMPLE_LENGTH)
        }
      }),
    )
  })
})

describe('diffAnswers: the example', () => {
  const a = json({ name: 'Ada', at: 1, id: 'x' })
  const b = json({ fullName: 'Ada', at: 2, id: 'y' })

  it('is of the first difference by default', () => {
    expect(diff(a, b).example?.field).toBe('/name')
  })

  it('is of each difference in turn with a random choice, so every field of a route gets one over many points', () => {
    // A random source that always says "take this one" ends on the last difference; a uniform one reaches every one.
    const all = diffAnswers(a, b, { ignore: [], random: () => 0 })
    expect(all.example?.field).toBe(all.diffs.at(-1)!.field)
    let seed = 7
    const uniform = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
    const seen = new Set(Array.from({ length: 200 }, () => diffAnswers(a, b, { ignore: [], random: uniform }).example?.field))
    expect([...seen].sort()).toEqual(
      diff(a, b)
        .diffs.map((d) => d.field)
        .sort(),
    )
  })
})
