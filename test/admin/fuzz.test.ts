/**
 * Generated admin API requests: PUT bodies mutated from a valid spec at any depth, command bodies, ids, paths,
 * query strings, methods and headers (tokens, If-Match, If-None-Match, content types, cross-site marks, Access
 * assertions). Every answer is a 2xx or a 4xx problem document, never a 5xx, and every answer is no-store. A
 * request that is refused, or only reads, changes nothing: the rollout's status and newest history, read from the
 * coordinator, are the same before and after.
 *
 * Requests run in lanes, one rollout each: a lane's requests are sequential (so before/after is its own), the
 * lanes run side by side against the one coordinator.
 */
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { COMMANDS } from '../../src/core/rollout/machine.ts'
import { call, spec } from '../support/admin.ts'
import { READ_TOKEN } from '../support/tokens.ts'

const LANES = 10
const PER_LANE = 10
const RUNS = 50

/** Where a request goes: the lane's rollout, one that may not exist yet, or an id the API must refuse. */
const target = fc.oneof(
  { weight: 6, arbitrary: fc.constant('lane') },
  { weight: 1, arbitrary: fc.constantFrom('afz-unknown', 'afz-new') },
  { weight: 2, arbitrary: fc.constantFrom('UPPER', 'a'.repeat(64), '-x', 'a_b', '%2e%2e', '%zz', '%C3%BC', 'a%2Fb', ' ', '') },
)

/** One change to a JSON value, at a depth chosen by `path` (each step picks a child by index). */
const mutation = fc.record({
  path: fc.array(fc.nat(), { maxLength: 4 }),
  action: fc.constantFrom('set', 'delete', 'add', 'wrap'),
  key: fc.string({ maxLength: 8 }),
  value: fc.jsonValue({ maxDepth: 2 }),
})
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate(root: unknown, m: Mutation): unknown {
  const copy = structuredClone(root) as Record<string, unknown>
  let node: Record<string, unknown> = copy
  let key: string | undefined
  for (const step of m.path) {
    const keys = Object.keys(node)
    if (keys.length === 0) break
    key = keys[step % keys.length]!
    const child = node[key]
    if (child === null || typeof child !== 'object') break
    node = child as Record<string, unknown>
    key = undefined
  }
  // Adding to an array appends: a key such as "length" would make the assignment itself throw (RangeError).
  if ((m.action === 'add' || key === undefined) && Array.isArray(node)) node.push(m.value)
  else if (m.action === 'add' || key === undefined) node[m.key] = m.value
  else if (m.action === 'set') node[key] = m.value
  else if (m.action === 'wrap') node[key] = [node[key]]
  else if (Array.isArray(node)) node.splice(Number(key), 1)
  else delete node[key]
  return copy
}

const text = fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('v2', '', 'x'.repeat(65), '<script>', '\u0000'))
const commandBody = fc.oneof(
  fc.record(
    {
      release: fc.oneof(text, fc.jsonValue()),
      weight: fc.oneof(fc.double(), fc.integer({ min: -10, max: 200 }), fc.constantFrom(12.5, 12.345, '50')),
      reason: fc.oneof(text, fc.jsonValue()),
      extra: fc.jsonValue(),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
)
const raw = fc.oneof(fc.constantFrom('{', '{"release":', 'null', '[]', '"x"', '', '   ', 'x'.repeat(70_000)), fc.string({ maxLength: 40 }))

/** Usually absent: most requests should get past a header check to reach the parts behind it. */
const sometimes = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb })

const request = fc.record({
  target,
  route: fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('command' as const),
        name: fc.constantFrom(...COMMANDS, 'explode', 'START', ''),
        body: fc.option(commandBody, { nil: undefined }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), sub: fc.constantFrom('', '/history', '/series', '/x/y', '/history/1') }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('raw' as const),
        method: fc.constantFrom('PUT', 'POST', 'PATCH', 'OPTIONS', 'HEAD', 'DELETE'),
        sub: fc.constantFrom('', '/start', '/history'),
        body: raw,
      }),
    },
  ),
  query: fc.constantFrom(
    '',
    '?reason=fuzz',
    '?limit=-1',
    '?limit=abc',
    '?limit=5&before=0',
    '?limit=1e3',
    '?limit=%zz',
    '?before=9007199254740993',
    `?reason=${'r'.repeat(600)}`,
  ),
  token: fc.oneof({ weight: 8, arbitrary: fc.constant('admin' as const) }, fc.constantFrom('read' as const, 'wrong' as const, 'none' as const)),
  ifMatch: sometimes(fc.constantFrom('"1"', '"2"', '"999"', '*', 'W/"2"', 'garbage', '""', '"1", "2"')),
  ifNoneMatch: sometimes(fc.constantFrom('*', '"1"')),
  contentType: sometimes(fc.constantFrom('application/json', 'text/plain', 'application/merge-patch+json', 'application/json; charset=utf-8', '')),
  crossSite: sometimes(
    fc.constantFrom<Record<string, string>>({ 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }, { 'sec-fetch-site': 'same-origin' }),
  ),
  access: fc.oneof({ weight: 9, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant('not.a.jwt') }),
})
type Gen = typeof request extends fc.Arbitrary<infer T> ? T : never

const TOKENS = { admin: undefined, read: READ_TOKEN, wrong: 'not-the-token-0000000000', none: null }

function send(g: Gen, lane: string): Promise<Response> {
  const id = g.target === 'lane' ? lane : g.target
  const r = g.route
  const [method, sub, body] =
    r.kind === 'put'
      ? ['PUT', '', r.mutations.reduce<unknown>(mutate, spec(id))]
      : r.kind === 'command'
        ? ['POST', `/${r.name}`, r.body]
        : r.kind === 'read'
          ? ['GET', r.sub, undefined]
          : r.kind === 'delete'
            ? ['DELETE', '', undefined]
            : [r.method, r.sub, r.body]
  const headers: Record<string, string> = { ...g.crossSite }
  if (g.ifMatch !== undefined) headers['if-match'] = g.ifMatch
  if (g.ifNoneMatch !== undefined) headers['if-none-match'] = g.ifNoneMatch
  if (g.contentType !== undefined) headers['content-type'] = g.contentType
  if (g.access !== undefined) headers['cf-access-jwt-assertion'] = g.access
  return call(`/rollouts/${id}${sub}${g.query}`, {
    method,
    headers,
    token: TOKENS[g.token],
    ...(body !== undefined && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
  })
}

/** A rollout as the coordinator holds it: its status and its newest history entries. */
const snapshot = async (id: string) => {
  const c = coordinator(env)
  return { status: await c.status(id), history: (await c.history(id, { limit: 3 })).entries }
}

async function checkAnswer(res: Response, why: string) {
  expect((res.status >= 200 && res.status < 300) || (res.status >= 400 && res.status < 500), why).toBe(true)
  expect(res.headers.get('cache-control'), why).toBe('no-store')
  const body = await res.text()
  if (res.status >= 400) {
    expect(res.headers.get('content-type'), why).toBe('application/problem+json')
    if (body !== '')
      expect(JSON.parse(body), why).toMatchObject({ type: 'about:blank', status: res.status, title: expect.any(String), detail: expect.any(String) })
  } else if (res.status !== 204 && body !== '') {
    expect(res.headers.get('content-type'), why).toMatch(/^application\/json/)
    JSON.parse(body)
  }
}

describe('admin API fuzz', () => {
  it(`answers ${LANES * PER_LANE * RUNS} generated requests with 2xx or 4xx problems, and a refused write changes nothing`, { timeout: 600_000 }, async () => {
    const lanes = Array.from({ length: LANES }, (_, i) => `afz-${i}`)
    const recreate = async (id: string) => expect((await call(`/rollouts/${id}`, { method: 'PUT', body: spec(id) })).status).toBeLessThan(300)
    await Promise.all(lanes.map(recreate))
    const statuses = new Map<number, number>()

    const runLane = async (lane: string, ops: Gen[]) => {
      let before = await snapshot(lane)
      for (const g of ops) {
        const res = await send(g, lane)
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        const why = `${res.status} for ${JSON.stringify(g).slice(0, 400)}`
        await checkAnswer(res, why)
        const after = await snapshot(lane)
        const changes = res.ok && g.target === 'lane' && g.route.kind !== 'read' && (g.route.kind !== 'raw' || g.route.method !== 'HEAD')
        if (!changes) expect(after, why).toEqual(before)
        before = after
        if (before.status === null) {
          await recreate(lane)
          before = await snapshot(lane)
        }
      }
    }

    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: LANES * PER_LANE, maxLength: LANES * PER_LANE }), async (ops) => {
        // Every lane finishes before the run ends, failed or not: a lane still sending into the next run (a shrink,
        // which reuses the lane ids) would change that run's rollouts behind its back.
        const runs = await Promise.allSettled(
          lanes.map((lane, i) =>
            runLane(
              lane,
              ops.filter((_, j) => j % LANES === i),
            ),
          ),
        )
        const failed = runs.find((r) => r.status === 'rejected')
        if (failed) throw failed.reason
      }),
      { numRuns: RUNS },
    )
    // Both kinds of answer were exercised: writes that went through, and refusals of every sort.
    expect([...statuses.keys()].filter((s) => s < 300).length).toBeGreaterThan(1)
    expect([...statuses.keys()].filter((s) => s >= 400).length).toBeGreaterThan(5)
  })
})
