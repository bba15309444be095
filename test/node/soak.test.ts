/**
 * The soak script itself (scripts/soak.ts), run for a few seconds against its own `npm start` stack: every kind
 * of traffic and admin command goes out, and it reports what came back. The figures of a real run are in
 * bench/RESULTS.md.
 */
import { expect, it } from 'vitest'
import { soak } from '../../scripts/soak.ts'

it('sends every kind of traffic and admin command through the stack, and accounts for each request', { timeout: 90_000 }, async () => {
  const lines: string[] = []
  const t = await soak({ minutes: 0.2, rps: 20, maxRequests: 1_000, adminEveryS: 2, log: (line) => lines.push(line) })
  expect(Object.keys(t.byKind).sort()).toEqual(['api', 'asset', 'cookieless', 'page', 'sse', 'upload', 'websocket'])
  expect(t.finished).toBe(t.started)
  // Transport errors are reported, not asserted: a few uploads in a run's first seconds meet a connection closed under
  // them on the way to the demo origin (bench/RESULTS.md, soak), which a 12-second run cannot average out.
  expect(t.outcomes.sluice, JSON.stringify(t.errors)).toBe(0)
  expect(Object.keys(t.admin).some((k) => k.startsWith('start 2'))).toBe(true)
  // workerd was found under wrangler and measured.
  expect(t.rss.at(-1)!.mib).toBeGreaterThan(0)
  expect(lines.at(-1)).toMatch(/workerd rss \d+\.\d MiB/)
})
