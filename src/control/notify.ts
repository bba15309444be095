/**
 * @module
 * Webhook notifications (Slack-compatible `{ "text": … }`) for starts, steps,
 * gates, promotions, rollbacks and pauses. Sent in the background with retries
 * and backoff; a failing webhook is logged and never blocks or undoes a decision.
 */
import { logOnce } from '../shared/log.ts'

export interface NotifyOptions {
  attempts?: number
  baseDelayMs?: number
  timeoutMs?: number
}

/** Resolves true once delivered, false after the last failed attempt; never rejects. */
export async function sendWebhook(url: string, text: string, opts: NotifyOptions = {}): Promise<boolean> {
  const attempts = opts.attempts ?? 4
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, (opts.baseDelayMs ?? 1_000) * 2 ** (i - 1)))
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 5_000),
      })
      await res.body?.cancel()
      // 4xx other than 429 will not get better by retrying.
      if (res.ok) return true
      if (res.status < 500 && res.status !== 429) break
    } catch {
      // network error or timeout: retry
    }
  }
  logOnce('webhook-failed', { detail: `gave up on ${new URL(url).host}` })
  return false
}

/** The events operators want to hear about, and how they read. */
export const NOTIFY: Record<string, (id: string, to: { weight: number }, reason?: string) => string> = {
  start: (id, to) => `:rocket: ${id}: rollout started at ${to.weight} %`,
  advance: (id, to, why) => `:arrow_up: ${id}: canary now at ${to.weight} %${why ? ` (${why})` : ''}`,
  gate: (id, to) => `:raised_hand: ${id}: waiting for approval at ${to.weight} %`,
  promote: (id) => `:white_check_mark: ${id}: canary promoted to 100 %`,
  rollback: (id, _to, why) => `:rotating_light: ${id}: rolled back to stable${why ? `: ${why}` : ''}`,
  pause: (id, to, why) => `:double_vertical_bar: ${id}: paused at ${to.weight} %${why ? `: ${why}` : ''}`,
}
