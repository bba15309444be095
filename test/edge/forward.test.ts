/**
 * The origin timeout races the subrequest instead of aborting it (src/edge/proxy.ts), so the fetch that loses the
 * race is abandoned while still running. These tests hold that fetch in their hands (a stubbed `fetch`) to check
 * what happens to it after the deadline: nothing leaks, nothing is used twice, nothing rejects unhandled.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OriginTimeout, forward } from '../../src/edge/proxy.ts'

const TIMEOUT_MS = 20

const TARGET = 'https://origin.example.com/page?x=1'
const send = () => forward(TARGET, { redirect: 'manual' }, TIMEOUT_MS)

/** A `fetch` whose answer the test gives, when it chooses. */
function heldFetch() {
  const answer = Promise.withResolvers<Response>()
  const calls: string[] = []
  vi.stubGlobal('fetch', (input: string) => {
    calls.push(input)
    return answer.promise
  })
  return { answer, calls }
}

/** A body that records being cancelled, and can be fed and closed by the test. */
function trackedBody() {
  const cancelled = Promise.withResolvers<void>()
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const stream = new ReadableStream<Uint8Array>({
    start: (c) => void (controller = c),
    cancel: () => cancelled.resolve(),
  })
  return { stream, cancelled: cancelled.promise, send: (s: string) => controller.enqueue(new TextEncoder().encode(s)), close: () => controller.close() }
}

/** Every unhandled rejection while `fn` and one macrotask after it run. */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = []
  const listener = (e: PromiseRejectionEvent) => seen.push(e.reason)
  addEventListener('unhandledrejection', listener)
  try {
    await fn()
    await scheduler.wait(TIMEOUT_MS)
  } finally {
    removeEventListener('unhandledrejection', listener)
  }
  return seen
}

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('forward: the header timeout', () => {
  it('rejects with an OriginTimeout when no headers arrive in time', async () => {
    const { calls } = heldFetch()
    await expect(send()).rejects.toBeInstanceOf(OriginTimeout)
    expect(calls).toEqual([TARGET])
  })

  it('hands on a response that arrives in time, and never cuts its body when the deadline passes later', async () => {
    const { answer } = heldFetch()
    const body = trackedBody()
    answer.resolve(new Response(body.stream, { status: 200 }))
    const unhandled = await unhandledDuring(async () => {
      const res = await send()
      body.send('first ')
      await scheduler.wait(TIMEOUT_MS * 3)
      body.send('last')
      body.close()
      expect(await res.text()).toBe('first last')
    })
    expect(unhandled).toEqual([])
  })

  it('cancels the body of a response that arrives after the deadline, and never hands it on', async () => {
    const { answer } = heldFetch()
    const late = send()
    await expect(late).rejects.toBeInstanceOf(OriginTimeout)
    const body = trackedBody()
    answer.resolve(new Response(body.stream))
    // Resolves only if forward cancelled it: nothing else holds the response.
    await body.cancelled
  })

  it('absorbs a failure that arrives after the deadline: no unhandled rejection', async () => {
    const { answer } = heldFetch()
    const unhandled = await unhandledDuring(async () => {
      await expect(send()).rejects.toBeInstanceOf(OriginTimeout)
      answer.reject(new TypeError('Network connection lost.'))
    })
    expect(unhandled).toEqual([])
  })

  it('passes a network error before the deadline through as it is, not as a timeout', async () => {
    const { answer } = heldFetch()
    const refused = new TypeError('connection refused')
    answer.reject(refused)
    await expect(send()).rejects.toBe(refused)
  })
})
