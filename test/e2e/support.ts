/**
 * @module
 * End-to-end helpers: the `npm start` stack on free ports, headless Chromium
 * (Debian's, driven by playwright-core), and admin API calls.
 */
import { mkdir } from 'node:fs/promises'
import { type Browser, chromium } from 'playwright-core'
import { type Stack, startStack } from '../../scripts/lib/stack.ts'

export const TOKEN = 'e2e-admin-token-0123456789'
export const SCREENSHOTS = new URL('./screenshots/', import.meta.url)

/** A schedule that moves in seconds rather than minutes, so the full loop fits in a test. */
export const FAST_ROLLOUT = {
  id: 'demo',
  schedule: [{ weight: 20, bakeMinutes: 0, minRequests: 60 }, { weight: 50, bakeMinutes: 0, minRequests: 60 }, { weight: 100 }],
  judge: { minRequests: 100 },
  analysis: { lagMinutes: 0, windowSeconds: 5, settleSeconds: 3, noDataPauseMinutes: 5 },
}

export async function stack(rollout?: Record<string, unknown>): Promise<Stack> {
  await mkdir(SCREENSHOTS, { recursive: true })
  return startStack({ port: 0, token: TOKEN, tickSeconds: 2, ...(rollout ? { rollout } : {}) })
}

/** Debian's headless Chromium; `extra` flags on top (a browser-wide User-Agent, say). */
export function launch(extra: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
      ...extra,
    ],
  })
}

/**
 * A fresh browser profile that looks like a person's Chrome: headless Chromium
 * says "HeadlessChrome", which Sluice's default bot list (rightly) sends to stable.
 */
export const newVisitor = (browser: Browser) =>
  browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36' })

export async function api<T = unknown>(s: Stack, path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<T> {
  const res = await fetch(`${s.url}/__sluice/api${path}`, {
    method,
    headers: { authorization: `Bearer ${s.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return (text ? JSON.parse(text) : null) as T
}

export type Status = { phase: string; weight: number; revision: number }

/** Polls until `check` holds or the deadline passes; every wait in these tests is bounded. */
export async function until<T>(what: string, get: () => Promise<T>, check: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T
  do {
    last = await get()
    if (check(last)) return last
    await new Promise((r) => setTimeout(r, 500))
  } while (Date.now() < deadline)
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`)
}

/**
 * Runs `loop` once per visitor, each until `fn` has ended, and resolves with `fn`'s result. A loop that fails stops the
 * others (so none keeps sending) and its error is thrown once `fn` is done (so it is never unhandled while fn waits).
 */
export async function whileRunning<V, T>(visitors: readonly V[], loop: (v: V, running: () => boolean) => Promise<void>, fn: () => Promise<T>): Promise<T> {
  let stop = false
  const loops = visitors.map((v) => loop(v, () => !stop))
  const failed = Promise.all(loops).then(
    () => null,
    (err: unknown) => {
      stop = true
      return err
    },
  )
  try {
    return await fn()
  } finally {
    stop = true
    const err = await failed
    if (err) throw err
  }
}
