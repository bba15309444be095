/**
 * @module
 * The route template a mirrored request is counted under: its path with every segment that looks like an id written
 * `:id`, so `/users/42/orders/7f3c…` and `/users/43/orders/9a1b…` are one route, `/users/:id/orders/:id`. Diff
 * rates are per route: a field that differs on one endpoint must not be averaged away over all of them.
 *
 * The path is the origins' and the visitor's, so the template is bounded (segments, their length, the whole) and
 * its own fixed point: a template maps to itself, so the controller may read one back through `routeOf` unchanged.
 */
import { MAX_FIELD_LENGTH } from './fields.ts'

/** Segments kept; the rest become one `…`. */
export const MAX_ROUTE_SEGMENTS = 8
/** A longer segment is cut to this. */
export const MAX_SEGMENT_LENGTH = 64
export const ID_SEGMENT = ':id'

const MORE = '…'
const DIGITS = /^[0-9]+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const LONG_HEX = /^[0-9a-f]{16,}$/i
/** Opaque tokens (base64url ids, slugs with a number, ULIDs): long, URL-safe, with a digit somewhere. */
const TOKEN = /^[A-Za-z0-9_-]{24,}$/
const HAS_DIGIT = /[0-9]/

const isId = (s: string) => DIGITS.test(s) || UUID.test(s) || LONG_HEX.test(s) || (TOKEN.test(s) && HAS_DIGIT.test(s))

/**
 * A segment as the template writes it. Judged both whole and cut (a token's only digit may lie beyond the cut), so
 * that a cut segment left as it is never reads as an id the second time round.
 */
function segment(raw: string): string {
  const kept = raw.length > MAX_SEGMENT_LENGTH ? raw.slice(0, MAX_SEGMENT_LENGTH) : raw
  return isId(kept) || (kept !== raw && isId(raw)) ? ID_SEGMENT : kept
}

/** The route template of a path (a query string or fragment, if given, is not part of it). Never throws. */
export function routeOf(path: string): string {
  let end = path.length
  const query = path.indexOf('?')
  if (query !== -1) end = query
  const fragment = path.indexOf('#')
  if (fragment !== -1 && fragment < end) end = fragment
  // A scan rather than split: a visitor's path may have thousands of segments, and one more than kept is enough.
  const parts: string[] = []
  for (let from = path.startsWith('/') ? 1 : 0; parts.length <= MAX_ROUTE_SEGMENTS;) {
    const slash = path.indexOf('/', from)
    const to = slash === -1 || slash > end ? end : slash
    parts.push(segment(path.slice(from, to)))
    if (to === end) break
    from = to + 1
  }
  let route = ''
  for (const part of parts) route += `/${part}`
  if (parts.length <= MAX_ROUTE_SEGMENTS && route.length <= MAX_FIELD_LENGTH) return route
  // Whole segments only, and room for the mark: a segment cut short could read as an id (or as another) next time.
  route = ''
  for (let i = 0; i < parts.length && i < MAX_ROUTE_SEGMENTS; i++) {
    const next = `/${parts[i]}`
    if (route.length + next.length + 1 + MORE.length > MAX_FIELD_LENGTH) break
    route += next
  }
  return `${route}/${MORE}`
}
