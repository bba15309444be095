/**
 * @module
 * The `npm start` stack (scripts/lib/stack.ts) as a user meets it: real demo
 * origins and a real `wrangler dev`, one stack for the file. A request the
 * demo origin cannot parse, or one of the stack's processes dying, must cost
 * that request or that process only, never the whole stack; and the control
 * worker's optional secrets given to the stack reach it.
 */
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Stack, startStack } from '../../scripts/lib/stack.ts'
import { ADMIN_TOKEN, READ_TOKEN } from '../support/tokens.ts'

// Starting wrangler (twice, with the restart) on a loaded 2-core machine takes a while; every wait below is bounded.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 })

let s: Stack
const logged: string[] = []

beforeAll(async () => {
  s = await startStack({
    port: 0,
    token: ADMIN_TOKEN,
    secrets: { SLUICE_TOKENS: JSON.stringify([{ name: 'viewer', role: 'read', token: READ_TOKEN }]) },
    // No ticks needed here: nothing is released.
    tickSeconds: 3600,
    log: (line) => logged.push(line),
  })
})

afterAll(async () => {
  await s?.stop()
})

/** A GET with the path exactly as given: fetch() and `new URL` would normalise `//` and `%2e%2e` away. */
function rawGet(base: string, path: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }))
    })
    req.on('error', reject).end()
  })
}

const healthz = async () => (await fetch(`${s.url}/__sluice/healthz`)).status

/** Polls `check` (which throws until it holds) for up to `timeout` ms. */
const eventually = <T>(check: () => Promise<T>, timeout = 30_000) => vi.waitFor(check, { timeout, interval: 200 })

describe('the local stack', () => {
  it.each(['//', '//?x', '/%2e%2e//'])('answers GET %s with a 4xx from the origin and stays up', async (path) => {
    const res = await rawGet(s.url, path)
    expect(res.status).toBeGreaterThanOrEqual(400)
    expect(res.status).toBeLessThan(500)
    expect(res.headers['x-sluice-error']).toBeUndefined()
    expect(await healthz()).toBe(200)
    const page = await fetch(`${s.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('x-demo-origin')).toBe('stable')
  })

  it('gives SLUICE_TOKENS to the control worker: a named read token can list rollouts', async () => {
    const res = await fetch(`${s.url}/__sluice/api/rollouts`, { headers: { authorization: `Bearer ${READ_TOKEN}` } })
    expect(res.status).toBe(200)
    expect(JSON.stringify(await res.json())).toContain('"demo"')
  })

  it('keeps serving stable pages while the canary process is killed, and restarts the canary on its port with its settings', async () => {
    // Changed over HTTP, as a user would: the restarted process must keep it.
    await s.canary.configure({ latencyMs: 5, jsErrorRate: 0.1 })
    const killed = s.canary.pid!
    process.kill(killed, 'SIGKILL')
    await eventually(async () => expect(logged.join('\n')).toMatch(new RegExp(`^canary \\(pid ${killed}\\) exited unexpectedly \\(signal SIGKILL\\)`, 'm')))
    const page = await fetch(`${s.url}/`)
    expect(page.status).toBe(200)
    expect(page.headers.get('x-demo-origin')).toBe('stable')
    const settings = await eventually(() => s.canary.configure())
    expect(settings).toEqual({ errorRate: 0, latencyMs: 5, jsErrorRate: 0.1 })
    expect(s.canary.pid).not.toBe(killed)
    expect(logged.join('\n')).toMatch(/^canary restarted \(pid \d+\)$/m)
    expect(await healthz()).toBe(200)
  })

  it('restarts a wrangler that died on the same port, with its state', async () => {
    const killed = s.wrangler.pid!
    // Wrangler alone, as a crash would: its workerd children are left for the supervisor to clean up.
    process.kill(killed, 'SIGKILL')
    await eventually(async () => expect(logged.join('\n')).toMatch(/^wrangler restarted \(pid \d+\)$/m), 90_000)
    expect(logged.join('\n')).toMatch(new RegExp(`^wrangler \\(pid ${killed}\\) exited unexpectedly \\(signal SIGKILL\\)`, 'm'))
    expect(await healthz()).toBe(200)
    // The demo rollout was seeded once, before the crash: still there means the same state directory.
    const res = await fetch(`${s.url}/__sluice/api/rollouts/demo`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    expect(res.status).toBe(200)
  })
})
