/**
 * @module
 * Gate webhooks over HTTP: calls the hooks configured for a point of the
 * rollout, signed like every outgoing webhook (src/control/notify.ts), and
 * reports each answer for `gated` (src/core/rollout/gates.ts) to decide on.
 *
 * A gate call is made once per controller tick, within the hook's own
 * `timeoutMs`; the next tick asks again (a new delivery: it is a new question).
 * Notification hooks (`post-rollout`, `rollback`) are sent in the background
 * with retries, like notifications, and never block anything.
 */
import type { HookEvent, RolloutSpec } from '../core/config/schema.ts'
import type { GateEvent, HookResult } from '../core/rollout/gates.ts'
import type { RolloutState } from '../core/rollout/machine.ts'
import { post, sendWebhook } from './notify.ts'

/** Bytes of a hook's answer kept in the history. */
const EXCERPT_BYTES = 200

/** What every hook call says: the rollout, its release and phase, the move asked about, the step and the judge's last numbers. */
export interface HookPayload {
  event: HookEvent
  rollout: string
  release: string | null
  phase: RolloutState['phase']
  from: { weight: number }
  to: { weight: number }
  step: { index: number; weight: number } | null
  judge: unknown
  reason?: string
}

export function hookPayload(event: HookEvent, spec: RolloutSpec, from: RolloutState, to: { weight: number }, numbers: unknown, reason?: string): HookPayload {
  const step = spec.schedule[from.step]
  return {
    event,
    rollout: spec.id,
    release: from.release,
    phase: from.phase,
    from: { weight: from.weight },
    to: { weight: to.weight },
    step: step ? { index: from.step, weight: step.weight } : null,
    judge: numbers ?? null,
    ...(reason ? { reason } : {}),
  }
}

/** The first `EXCERPT_BYTES` of a body, read no further. */
async function excerpt(res: Response): Promise<string> {
  if (!res.body) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  while (size < EXCERPT_BYTES) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
  }
  await reader.cancel()
  const bytes = new Uint8Array(size)
  chunks.reduce((at, c) => (bytes.set(c, at), at + c.byteLength), 0)
  return new TextDecoder().decode(bytes.subarray(0, EXCERPT_BYTES))
}

/** Calls every hook of `spec` for `event` at once, each within its timeout; never rejects. */
export function callGate(spec: RolloutSpec, event: GateEvent, payload: HookPayload): Promise<HookResult[]> {
  const body = JSON.stringify(payload)
  const calls = spec.hooks.flatMap((hook, i) => (hook.on === event ? [{ hook, name: `hooks.${i}` }] : []))
  return Promise.all(
    calls.map(async ({ hook, name }): Promise<HookResult> => {
      const host = new URL(hook.url).host
      try {
        const res = await post(hook, { event, id: crypto.randomUUID(), body }, AbortSignal.timeout(hook.timeoutMs))
        return { hook: name, host, ok: res.ok, status: res.status, body: await excerpt(res) }
      } catch (err) {
        const timedOut = err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')
        const error = timedOut ? `no answer within ${hook.timeoutMs} ms` : `network error: ${err instanceof Error ? err.message : String(err)}`
        return { hook: name, host, ok: false, status: null, body: '', error }
      }
    }),
  )
}

/** Sends `post-rollout` or `rollback` to its hooks in the background; resolves when all are delivered or given up. */
export function notifyHooks(spec: RolloutSpec, event: 'post-rollout' | 'rollback', payload: HookPayload): Promise<unknown> {
  return Promise.all(spec.hooks.filter((h) => h.on === event).map((h) => sendWebhook(h, event, payload, { timeoutMs: h.timeoutMs })))
}
