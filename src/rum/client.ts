/// <reference lib="dom" />
/**
 * @module
 * The real-user-monitoring script the edge adds to HTML pages (`/__sluice/rum.js`): per page view, its
 * uncaught errors, unhandled rejections, failed script and stylesheet loads, and LCP, INP, CLS and TTFB
 * (web-vitals), sent as `Beacon`s (src/contract/rum.ts) when the page is hidden. `npm run rum` bundles it
 * (scripts/rum.ts) into src/edge/rum/script.generated.ts.
 *
 * It runs on pages Sluice does not own, so it stays small (4 KiB gzip with web-vitals, checked at build),
 * sends nothing that identifies the visitor or what they typed (no cookies, no queries, messages cut
 * short), and never throws or rejects where the page's own error handlers would see it.
 *
 * Only types come from the contract (rum.ts), and constants from rum-limits.ts: the schemas would bring zod.
 */
import { type Metric, onCLS, onINP, onLCP, onTTFB } from 'web-vitals'
import type { BeaconError, BeaconInput } from '../contract/rum.ts'
import { MAX_BEACON_ERRORS, MAX_MESSAGE, MAX_PAGE_VIEW_ERRORS, MAX_PATH, MAX_SOURCE, RUM_BEACON_PATH } from '../contract/rum-limits.ts'

type Vitals = NonNullable<BeaconInput['vitals']>

// 96 random bits, 8 to 35 characters. getRandomValues, unlike randomUUID, works on plain-http pages too.
const pv = `pv_${crypto.getRandomValues(new Uint32Array(3)).join('_')}`
// The page view is the document: a single-page app's later paths do not make it another one.
const path = location.pathname.slice(0, MAX_PATH)
const origin = location.origin
let first = true

/** Every distinct error of the page view by its identity, so a repeat only counts; at most MAX_PAGE_VIEW_ERRORS. */
const seen = new Map<string, BeaconError>()
/** Distinct errors not sent yet, oldest first. A repeat of an error already sent is not news and is not sent again. */
const queue: BeaconError[] = []
/** The vitals sent, each once per page view: web-vitals reports again after the page was shown again. */
const sent: Vitals = {}
/** The latest value of each vital not sent yet. */
let unsent: Vitals = {}

// Control characters become spaces: JSON escapes each in 6 bytes, which could push a beacon past MAX_BEACON_BYTES;
// without them, 10 errors' texts at their limits take at most 3 bytes a character, under 15 KB in all.
const cut = (s: unknown, max: number) =>
  String(s)
    .slice(0, max)
    .replace(/[\0-\x1f]/g, ' ')

/**
 * One more occurrence of an error. What was thrown (or rejected) may be anything, not only an Error, even an object
 * that cannot be turned into a string: nothing here may throw, or the page's own error handlers would see it.
 * `source`, a script's address, loses its query and fragment (they may carry tokens), and this page's origin.
 */
function record(kind: BeaconError['kind'], thrown: any, fallback: unknown, source = '', line?: number) {
  try {
    source = source.split(/[?#]/)[0]!
    if (source.startsWith(`${origin}/`)) source = source.slice(origin.length)
    const e = {
      kind,
      name: cut(thrown?.name || 'Error', 64),
      message: cut(thrown?.message ?? fallback, MAX_MESSAGE),
      source: cut(source, MAX_SOURCE),
      line,
      count: 1,
    }
    const key = JSON.stringify(e)
    const known = seen.get(key)
    if (known) {
      if (known.count < 1e6) known.count++
    } else if (seen.size < MAX_PAGE_VIEW_ERRORS) {
      seen.set(key, e)
      queue.push(e)
    }
  } catch {}
}

// Capture phase on window: a failed <script> or <link> fires `error` on the element, and that event does not bubble.
addEventListener(
  'error',
  (ev) => {
    const el = ev.target as HTMLScriptElement & HTMLLinkElement
    if (el === (window as unknown)) record('error', ev.error, ev.message, ev.filename, ev.lineno)
    else if (el?.tagName === 'SCRIPT' || el?.tagName === 'LINK') record('resource', { name: el.tagName.toLowerCase(), message: '' }, '', el.src || el.href)
  },
  true,
)
addEventListener('unhandledrejection', (ev) => record('rejection', ev.reason, ev.reason))

// Every change, not only the final values: web-vitals processes an interaction in an idle callback, and if the page
// is hidden first, the INP it then finds is only reported to `reportAllChanges` (or lost). The beacon takes the value
// at the first hide, which is the final one. Out-of-range values (a tab left open for hours) would make the whole
// beacon invalid (the contract's bounds): they are dropped.
const take = (m: Metric) => {
  const key = m.name.toLowerCase() as keyof Vitals
  if (!(key in sent) && m.value >= 0 && m.value <= (key === 'cls' ? 1e3 : 6e5)) unsent[key] = m.value
}
const all = { reportAllChanges: true }
onLCP(take, all)
onINP(take, all)
onCLS(take, all)
onTTFB(take)

function send(body: string) {
  const url = origin + RUM_BEACON_PATH
  let queued = false
  try {
    queued = navigator.sendBeacon?.(url, body)
  } catch {}
  if (!queued) fetch(url, { method: 'POST', keepalive: true, body, headers: { 'content-type': 'application/json' } }).catch(() => {})
}

/** The page may not come back: the first time, the page view and all so far; later, only what is new. */
function flush() {
  if ((document as { prerendering?: boolean }).prerendering) return
  if (!first && !queue.length && !Object.keys(unsent).length) return
  do {
    send(JSON.stringify({ v: 1, pv, first, path, errors: queue.splice(0, MAX_BEACON_ERRORS), vitals: unsent } satisfies BeaconInput))
    first = false
    Object.assign(sent, unsent)
    unsent = {}
  } while (queue.length)
}

// Leaving the page fires pagehide while it is still visible, then visibilitychange (in every browser web-vitals
// supports): sending at the latter puts the vitals web-vitals reports on it into the first beacon. Listening on window in the bubble phase runs this after
// web-vitals' own (capture-phase) listeners. A pagehide when already hidden is a page closed unseen (a background
// tab), which sees no visibilitychange at all.
const hidden = () => document.visibilityState === 'hidden' && flush()
addEventListener('visibilitychange', hidden)
addEventListener('pagehide', hidden)
