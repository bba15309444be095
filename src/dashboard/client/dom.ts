/**
 * @module
 * Building elements: the page's globals, `h` and `svg`, and class names from data.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { Child, El, Page } from '../dom.ts'
import type { State } from './state.ts'

export type Attrs = Record<string, string | number | boolean | null | undefined>
export type Kid = Child | number | null | undefined | false

/** The page's globals. Reached only through here, so tests can swap them. */
export function page(): Page {
  return globalThis as unknown as Page
}

export function byId(id: string): El {
  const el = page().document.getElementById(id)
  if (!el) throw new Error(`dashboard: #${id} is missing from the page`)
  return el
}

export function h(tag: string, attrs?: Attrs | null, ...kids: Kid[]): El {
  return fill(page().document.createElement(tag), attrs, kids)
}

export function svg(tag: string, attrs?: Attrs | null, ...kids: Kid[]): El {
  return fill(page().document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, kids)
}

/**
 * Sets attributes and appends children. Strings become text nodes, so a value
 * holding markup shows as text. `on*` attributes are refused: handlers are
 * attached with addEventListener (the CSP would block inline ones anyway).
 */
export function fill(el: El, attrs: Attrs | null | undefined, kids: Kid[]): El {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (/^on/i.test(k)) throw new Error(`dashboard: refusing event-handler attribute ${k}`)
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(typeof k === 'number' ? String(k) : k)
  return el
}

/** A class-name token from data (a phase, a command): only `a-z0-9-` survive. */
export function cls(v: unknown): string {
  return String(v)
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '')
}

/** Redraws a region only when what it shows changed: a refresh that changes nothing touches nothing. */
export function redraw(st: State, region: string, data: unknown, draw: () => void): void {
  const sig = JSON.stringify(data)
  if (st.drawn[region] === sig) return
  st.drawn[region] = sig
  draw()
}
