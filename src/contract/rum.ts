/**
 * @module
 * The beacon the RUM script sends (`POST /__sluice/rum`) and the limits
 * both sides keep: one definition for the browser script (src/rum/), the
 * edge that validates it and the tests. Nothing in a beacon decides its
 * cohort: the edge recomputes that from the visitor's cookie.
 *
 * What a beacon carries, and what it never does: the page's path without
 * query or fragment, error names, messages cut to 200 characters and script
 * paths without query, and four numbers (LCP, INP, CLS, TTFB). No cookies,
 * no URLs with query strings, no text typed by the user.
 */
import * as z from 'zod/mini'
import { MAX_BEACON_ERRORS, MAX_MESSAGE, MAX_PATH, MAX_SOURCE } from './rum-limits.ts'

export { MAX_BEACON_BYTES, MAX_BEACON_ERRORS, MAX_MESSAGE, MAX_PAGE_VIEW_ERRORS, MAX_PATH, MAX_SOURCE, RUM_BEACON_PATH, RUM_SCRIPT_PATH } from './rum-limits.ts'

const text = (max: number) => z.string().check(z.maxLength(max))
const ms = z.optional(z.number().check(z.gte(0), z.lte(600_000)))

export const BeaconError = z.object({
  /** `error`: an uncaught exception; `rejection`: an unhandled promise rejection; `resource`: a script or stylesheet that failed to load. */
  kind: z.enum(['error', 'rejection', 'resource']),
  /** The error's name (`TypeError`), or the element of a failed load (`script`, `link`). */
  name: text(64),
  message: text(MAX_MESSAGE),
  /** The script (or the failed resource), a path or URL without query. */
  source: z.optional(text(MAX_SOURCE)),
  line: z.optional(z.int().check(z.gte(0), z.lte(10_000_000))),
  /** Identical errors of the page view since the last beacon. */
  count: z._default(z.int().check(z.gte(1), z.lte(1_000_000)), 1),
})

export const Beacon = z.object({
  v: z.literal(1),
  /** A random id of the page view: a page view's beacons share it. */
  pv: z.string().check(z.regex(/^[A-Za-z0-9_-]{8,40}$/)),
  /** The page view's first beacon: only it counts the page view (and whether it had an error by then). */
  first: z.boolean(),
  /** The page's path, without query or fragment. */
  path: text(MAX_PATH),
  errors: z._default(z.array(BeaconError).check(z.maxLength(MAX_BEACON_ERRORS)), []),
  /** Each vital at most once per page view, in the beacon where it was first final. */
  vitals: z._default(
    z.object({
      lcp: ms,
      inp: ms,
      cls: z.optional(z.number().check(z.gte(0), z.lte(1000))),
      ttfb: ms,
    }),
    {},
  ),
})

export type BeaconError = z.output<typeof BeaconError>
export type Beacon = z.output<typeof Beacon>
export type BeaconInput = z.input<typeof Beacon>

/** A URL or path without its query and fragment: `https://x/app.js?v=3#a` -> `https://x/app.js`. */
export const withoutQuery = (source: string): string => {
  const cut = source.search(/[?#]/)
  return cut === -1 ? source : source.slice(0, cut)
}

/** Where a URL points on its host, without query: `https://x/app.js?v=3` -> `/app.js`. */
export function pathOf(source: string): string {
  const s = withoutQuery(source)
  const scheme = s.indexOf('://')
  if (scheme === -1) return s
  const slash = s.indexOf('/', scheme + 3)
  return slash === -1 ? '/' : s.slice(slash)
}

/**
 * One error as the judge groups it: `TypeError: x is undefined at /app.js:12`, at most 160 characters. The script
 * keeps its host when it is another site's (the browser script drops the page's own origin), so a third party's
 * failure reads as that third party's.
 */
export function fingerprint(e: BeaconError): string {
  const where = e.source ? ` at ${withoutQuery(e.source)}${e.line ? `:${e.line}` : ''}` : ''
  const head = e.kind === 'resource' ? `failed to load ${e.name}` : `${e.name || 'Error'}: ${e.message}`
  const all = head + where
  return all.length <= 160 ? all : `${all.slice(0, 159)}…`
}
