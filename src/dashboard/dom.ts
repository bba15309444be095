/**
 * @module
 * The slice of the browser the dashboard's client code touches, as types only.
 * The worker's tsconfig has no DOM lib (it would clash with the Workers
 * types), so the client declares what it uses; the tests implement this same
 * slice, which also keeps the client honest about how little it needs.
 */

export type Child = El | string

export interface El {
  readonly tagName: string
  id: string
  textContent: string | null
  hidden: boolean
  disabled: boolean
  value: string
  readonly firstElementChild: El | null
  setAttribute(name: string, value: string): void
  getAttribute(name: string): string | null
  removeAttribute(name: string): void
  append(...nodes: Child[]): void
  replaceChildren(...nodes: Child[]): void
  addEventListener(type: string, listener: (e: Ev) => void): void
  focus(): void
  /** `<dialog>` only. */
  showModal(): void
  close(): void
}

export interface Ev {
  preventDefault(): void
}

export interface Doc {
  readonly hidden: boolean
  readonly activeElement: El | null
  createElement(tag: string): El
  createElementNS(ns: string, tag: string): El
  getElementById(id: string): El | null
  addEventListener(type: string, listener: (e: Ev) => void): void
}

export interface FetchInit {
  method: string
  headers: Record<string, string>
  body?: string
  cache: 'no-store'
}

export interface FetchResponse {
  readonly status: number
  text(): Promise<string>
}

/** `globalThis` in the page. */
export interface Page {
  document: Doc
  sessionStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void; removeItem(k: string): void }
  location: { hash: string }
  fetch(url: string, init: FetchInit): Promise<FetchResponse>
  setTimeout(fn: () => void, ms: number): number
  clearTimeout(id: number | undefined): void
  addEventListener(type: string, listener: (e: Ev) => void): void
}
