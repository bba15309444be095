/**
 * @module
 * Outgoing webhooks: notifications (Slack-compatible `{ "text": … }`) for
 * starts, steps, gates, promotions, rollbacks and pauses, and the gate hooks'
 * calls (src/control/hooks.ts). Every call says what it is (`X-Sluice-Event`)
 * and which delivery (`X-Sluice-Delivery`, kept across retries so a receiver
 * can drop duplicates) and, with a secret, is signed: `X-Sluice-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The timestamp is
 * signed too, so a receiver that refuses old ones cannot be sent a replay.
 *
 * Notifications are sent in the background with retries and backoff; a
 * failing webhook is logged and never blocks or undoes a decision.
 */
import { logOnce } from '../shared/log.ts'

export interface Webhook {
  url: string
  secret?: string | undefined
}

export interface Delivery {
  /** `X-Sluice-Event`: the notification's or hook's event. */
  event: string
  /** `X-Sluice-Delivery`: one id per delivery, the same on each of its attempts. */
  id: string
  body: string
}

export interface NotifyOptions {
  attempts?: number
  baseDelayMs?: number
  timeoutMs?: number
}

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('')

/** The `X-Sluice-Signature` value for `body` sent at `t` (unix seconds). */
export async function signature(secret: string, t: number, body: string): Promise<string> {
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return `t=${t},v1=${hex(await crypto.subtle.sign('HMAC', key, enc.encode(`${t}.${body}`)))}`
}

/** One attempt: POSTs the delivery, signed at the time of this attempt when the webhook has a secret. */
export async function post(hook: Webhook, d: Delivery, signal: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-sluice-event': d.event, 'x-sluice-delivery': d.id }
  if (hook.secret) headers['x-sluice-signature'] = await signature(hook.secret, Math.floor(Date.now() / 1000), d.body)
  return fetch(hook.url, { method: 'POST', headers, body: d.body, signal })
}

/** Resolves true once delivered, false after the last failed attempt; never rejects. */
export async function sendWebhook(hook: Webhook, event: string, body: unknown, opts: NotifyOptions = {}): Promise<boolean> {
  const attempts = opts.attempts ?? 4
  const d: Delivery = { event, id: crypto.randomUUID(), body: JSON.stringify(body) }
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, (opts.baseDelayMs ?? 1_000) * 2 ** (i - 1)))
    try {
      const res = await post(hook, d, AbortSignal.timeout(opts.timeoutMs ?? 5_000))
      await res.body?.cancel()
      // 4xx other than 429 will not get better by retrying.
      if (res.ok) return true
      if (res.status < 500 && res.status !== 429) break
    } catch {
      // network error or timeout: retry
    }
  }
  logOnce('webhook-failed', { detail: `gave up on ${new URL(hook.url).host}` })
  return false
}

/**
 * A reason as Slack text: `&`, `<` and `>` escaped, as Slack asks, since a reason can quote what visitors' browsers
 * reported (a JavaScript error's message), which must not become a `<!channel>` mention or a disguised link.
 */
export const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

const because = (why: string | undefined, open: string, close = '') => (why ? `${open}${slackText(why)}${close}` : '')

/** Where a rollout now stands, for a message: its weight, or its shadow step (whose canary serves nobody). */
const at = (to: { weight: number; shadowWeight?: number | undefined }) =>
  to.weight === 0 && (to.shadowWeight ?? 0) > 0
    ? `in its shadow step (${to.shadowWeight} % of visitors mirrored, none served by the canary)`
    : `at ${to.weight} %`

/** The events operators want to hear about, and how they read. */
export const NOTIFY: Record<string, (id: string, to: { weight: number; shadowWeight?: number | undefined }, reason?: string) => string> = {
  start: (id, to) => `:rocket: ${id}: rollout started ${at(to)}`,
  advance: (id, to, why) => `:arrow_up: ${id}: canary now at ${to.weight} %${because(why, ' (', ')')}`,
  gate: (id, to) => `:raised_hand: ${id}: waiting for approval at ${to.weight} %`,
  promote: (id) => `:white_check_mark: ${id}: canary promoted to 100 %`,
  rollback: (id, _to, why) => `:rotating_light: ${id}: rolled back to stable${because(why, ': ')}`,
  pause: (id, to, why) => `:double_vertical_bar: ${id}: paused ${at(to)}${because(why, ': ')}`,
}
