/**
 * @module
 * A fake page for the dashboard's client code: a DOM that keeps text as text and throws on every HTML sink, and the
 * globals the served script reaches (`page()`), with fetch going to the control worker under test. Shared by the
 * dashboard's client tests.
 */
import { exports } from 'cloudflare:workers'
import { afterEach, beforeEach, expect } from 'vitest'
import { clientConfig } from '../../src/dashboard/commands.ts'

const CLIENT_CONFIG = clientConfig()

type Kid = FakeEl | string
type Listener = (e: unknown) => void

const sink = (name: string) => () => {
  throw new Error(`HTML sink used: ${name}`)
}

export class FakeEl {
  readonly attrs = new Map<string, string>()
  kids: Kid[] = []
  readonly listeners = new Map<string, Listener[]>()
  hidden = false
  disabled = false
  value = ''
  open = false

  readonly doc: FakeDoc
  readonly tagName: string
  readonly ns: string | null

  constructor(doc: FakeDoc, tagName: string, ns: string | null = null) {
    this.doc = doc
    this.tagName = tagName
    this.ns = ns
  }

  get id() {
    return this.attrs.get('id') ?? ''
  }
  set id(v: string) {
    this.attrs.set('id', v)
  }
  get textContent(): string {
    return this.kids.map((k) => (typeof k === 'string' ? k : k.textContent)).join('')
  }
  set textContent(v: string | null) {
    this.kids = v ? [String(v)] : []
  }
  get firstElementChild(): FakeEl | null {
    return this.kids.find((k): k is FakeEl => typeof k !== 'string') ?? null
  }
  set innerHTML(_: string) {
    sink('innerHTML')()
  }
  set outerHTML(_: string) {
    sink('outerHTML')()
  }
  insertAdjacentHTML = sink('insertAdjacentHTML')
  setHTMLUnsafe = sink('setHTMLUnsafe')

  setAttribute(name: string, value: string) {
    if (typeof value !== 'string') throw new TypeError(`attribute ${name} set to a ${typeof value}`)
    this.attrs.set(name, value)
  }
  getAttribute(name: string) {
    return this.attrs.get(name) ?? null
  }
  removeAttribute(name: string) {
    this.attrs.delete(name)
  }
  append(...nodes: Kid[]) {
    for (const n of nodes) {
      if (typeof n !== 'string' && !(n instanceof FakeEl)) throw new TypeError(`append(${typeof n})`)
      this.kids.push(n)
    }
  }
  replaceChildren(...nodes: Kid[]) {
    this.kids = []
    this.append(...nodes)
  }
  addEventListener(type: string, fn: Listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn])
  }
  emit(type: string) {
    const e = { defaultPrevented: false, preventDefault: () => void (e.defaultPrevented = true) }
    for (const fn of this.listeners.get(type) ?? []) fn(e)
    return e
  }
  click() {
    if (this.disabled) throw new Error(`#${this.id} is disabled`)
    this.emit('click')
  }
  focus() {
    this.doc.activeElement = this
  }
  showModal() {
    this.open = true
  }
  close() {
    if (!this.open) return
    this.open = false
    this.emit('close')
  }
  *walk(): Generator<FakeEl> {
    yield this
    for (const k of this.kids) if (typeof k !== 'string') yield* k.walk()
  }
  *texts(): Generator<string> {
    for (const k of this.kids) {
      if (typeof k === 'string') yield k
      else yield* k.texts()
    }
  }
  find(pred: (el: FakeEl) => boolean): FakeEl[] {
    return [...this.walk()].filter(pred)
  }
  testid(id: string): FakeEl | undefined {
    return this.find((el) => el.getAttribute('data-testid') === id)[0]
  }
}

export class FakeDoc {
  hidden = false
  activeElement: FakeEl | null = null
  readonly created: FakeEl[] = []
  readonly looked = new Set<string>()
  readonly shell = new Map<string, FakeEl>()
  readonly listeners = new Map<string, Listener[]>()
  write = sink('document.write')
  writeln = sink('document.writeln')

  /** Builds the elements the shell gives ids to, with the `hidden`/`disabled` they are served with. */
  constructor(html = '') {
    for (const m of html.matchAll(/<([a-z0-9]+)\b([^>]*)>/g)) {
      const id = /\sid="([^"]+)"/.exec(m[2]!)?.[1]
      if (!id) continue
      const el = new FakeEl(this, m[1]!.toUpperCase())
      el.id = id
      const testid = /\sdata-testid="([^"]+)"/.exec(m[2]!)?.[1]
      if (testid) el.setAttribute('data-testid', testid)
      el.hidden = /\shidden(?=[\s/>=]|$)/.test(m[2]!)
      el.disabled = /\sdisabled(?=[\s/>=]|$)/.test(m[2]!)
      this.shell.set(id, el)
    }
  }
  createElement(tag: string) {
    const el = new FakeEl(this, tag.toUpperCase())
    this.created.push(el)
    return el
  }
  createElementNS(ns: string, tag: string) {
    const el = new FakeEl(this, tag, ns)
    this.created.push(el)
    return el
  }
  getElementById(id: string) {
    this.looked.add(id)
    return this.shell.get(id) ?? null
  }
  addEventListener(type: string, fn: Listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn])
  }
  $(id: string): FakeEl {
    const el = this.shell.get(id)
    if (!el) throw new Error(`no #${id} in the shell`)
    return el
  }
}

/** Everything the served script can reach, with fetch going to the worker under test. */
export function fakePage(html: string, opts: { access?: () => Promise<string> } = {}) {
  const document = new FakeDoc(html)
  const storage = new Map<string, string>()
  const inflight = new Set<Promise<unknown>>()
  const timers: { fn: () => void; ms: number }[] = []
  const requests: { method: string; url: string; headers: Record<string, string>; body?: string }[] = []
  const listeners = new Map<string, Listener[]>()
  const g = {
    document,
    sessionStorage: {
      getItem: (k: string) => storage.get(k) ?? null,
      setItem: (k: string, v: string) => void storage.set(k, v),
      removeItem: (k: string) => void storage.delete(k),
    },
    location: { hash: '' },
    fetch(url: string, init: { method: string; headers: Record<string, string>; body?: string; cache?: string }) {
      const p = (async () => {
        expect(init.cache).toBe('no-store')
        const headers = { ...init.headers }
        // What Cloudflare Access does at the edge for a signed-in browser.
        if (opts.access) headers['cf-access-jwt-assertion'] = await opts.access()
        const target = new URL(url, 'https://shop.example.com/__sluice/')
        requests.push({ method: init.method, url: target.pathname + target.search, headers, ...(init.body ? { body: init.body } : {}) })
        const res = await exports.default.fetch(target.href, { method: init.method, headers, ...(init.body ? { body: init.body } : {}) })
        const text = await res.text()
        return { status: res.status, text: async () => text }
      })()
      inflight.add(p)
      void p.finally(() => inflight.delete(p)).catch(() => {})
      return p
    },
    setTimeout: (fn: () => void, ms: number) => timers.push({ fn, ms }),
    clearTimeout: () => {},
    addEventListener: (type: string, fn: Listener) => void listeners.set(type, [...(listeners.get(type) ?? []), fn]),
  }
  return {
    g,
    document,
    storage,
    requests,
    /** Waits until no request is in flight and the page has done what followed. */
    async settle() {
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setTimeout(r, 1))
        if (inflight.size === 0) {
          await new Promise((r) => setTimeout(r, 1))
          if (inflight.size === 0) return
        } else await Promise.allSettled([...inflight])
      }
      throw new Error('the page kept fetching')
    },
    /** Fires the pending polling timers (the ones the refresh loop set). */
    poll() {
      const due = timers.filter((t) => t.ms === CLIENT_CONFIG.refreshMs)
      timers.length = 0
      for (const t of due) t.fn()
    },
    emit(type: string) {
      for (const fn of listeners.get(type) ?? []) fn({ preventDefault() {} })
    },
    /** Runs the served script with only this page in reach: any other browser global it used would be undefined. */
    run(js: string) {
      const shadowed = ['window', 'self', 'document', 'fetch', 'XMLHttpRequest', 'location', 'sessionStorage', 'localStorage']
      new Function('globalThis', ...shadowed, 'setTimeout', 'clearTimeout', 'setInterval', js)(g)
    },
  }
}

export const shellHtml = async () => (await exports.default.fetch('https://shop.example.com/__sluice/')).text()

/** The dashboard's shell and script in a fake page, signed in with `token` and looking at `rolloutId`, settled. */
export async function openDashboard(token: string, rolloutId: string) {
  const html = await shellHtml()
  const p = fakePage(html)
  const $ = (id: string) => p.document.$(id)
  p.storage.set(CLIENT_CONFIG.storageKey, token)
  p.g.location.hash = `#${rolloutId}`
  p.run(scriptOf(html))
  await p.settle()
  return { p, $ }
}
export const scriptOf = (html: string) => /<script nonce="[^"]+">([\s\S]*?)<\/script>/.exec(html)![1]!

/** Elements and attributes that only data could have produced if it were parsed as markup. */
export function assertNoInjection(doc: FakeDoc) {
  const all = [...doc.created, ...doc.shell.values()]
  const tags = new Set(all.map((el) => el.tagName.toLowerCase()))
  for (const bad of ['script', 'img', 'iframe', 'object', 'embed', 'b']) expect(tags.has(bad), `a <${bad}> element`).toBe(false)
  for (const el of all) {
    for (const [name, value] of el.attrs) {
      expect(name, 'an event-handler attribute').not.toMatch(/^on/i)
      if (name === 'href' || name === 'src') expect(value, `${name}=${value}`).toMatch(/^#/)
    }
  }
}

/** A fresh fake document as `globalThis.document` for each test of the enclosing suite (the rendering units reach it through `page()`). */
export function useFakeDocument(): () => FakeDoc {
  let doc = new FakeDoc()
  beforeEach(() => {
    doc = new FakeDoc()
    ;(globalThis as unknown as { document: FakeDoc }).document = doc
  })
  afterEach(() => {
    delete (globalThis as unknown as { document?: FakeDoc }).document
  })
  return () => doc
}
