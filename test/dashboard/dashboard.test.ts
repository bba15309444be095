/**
 * @module
 * The dashboard shell as the worker serves it: security headers and CSP, no
 * data and no credentials needed, no external URLs, no HTML sinks in the
 * script, and command buttons that agree with the state machine.
 */
import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { RolloutStatus } from '../../src/contract/index.ts'
import { enabled } from '../../src/dashboard/client/index.ts'
import { clientConfig } from '../../src/dashboard/commands.ts'
import { clientScript, keepNamesProbe, keepNamesShim } from '../../src/dashboard/script.ts'
import { CSS } from '../../src/dashboard/style.ts'
import { COMMANDS, type Command, type CommandName, PHASES, applyCommand, initialState } from '../../src/core/rollout/machine.ts'
import { call, create } from '../support/admin.ts'
import { ADMIN_TOKEN } from '../support/tokens.ts'

const CLIENT_CONFIG = clientConfig()
const get = (path = '/__sluice/', init: RequestInit = {}) => exports.default.fetch(`https://shop.example.com${path}`, init)

/** `Content-Security-Policy` as directive -> values. */
function csp(res: Response): Map<string, string[]> {
  const header = res.headers.get('content-security-policy')
  expect(header, 'a Content-Security-Policy header').toBeTruthy()
  return new Map(
    header!
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([name, ...values]) => [name!, values]),
  )
}

const scriptOf = (html: string) => {
  const m = /<script nonce="([^"]+)">([\s\S]*?)<\/script>/.exec(html)
  expect(m, 'an inline script with a nonce').not.toBeNull()
  return { nonce: m![1]!, js: m![2]! }
}

/**
 * Where a string could become markup or code. Property names survive
 * minification, so this also holds for the production bundle's script.
 */
const SINKS: [string, RegExp][] = [
  ['innerHTML', /\binnerHTML\b/],
  ['outerHTML', /\bouterHTML\b/],
  ['insertAdjacentHTML', /\binsertAdjacentHTML\b/],
  ['document.write', /\bdocument\s*\.\s*write(?:ln)?\b|\.write(?:ln)?\s*\(/],
  ['createContextualFragment', /\bcreateContextualFragment\b/],
  ['DOMParser', /\bDOMParser\b/],
  ['setHTMLUnsafe', /\b(?:set|parse)HTMLUnsafe\b/],
  ['srcdoc', /\bsrcdoc\b/],
  ['eval', /\beval\s*\(/],
  ['Function', /\bnew\s+Function\b|\bFunction\s*\(/],
  ['string timer', /\bset(?:Timeout|Interval)\s*\(\s*['"`]/],
  ['inline handler', /setAttribute\(\s*['"`]on/i],
]
const sinksIn = (js: string) => SINKS.filter(([, re]) => re.test(js)).map(([name]) => name)

describe('the dashboard shell', () => {
  it('is served at /__sluice/ without credentials, as HTML that is never cached', async () => {
    for (const init of [{}, { headers: { authorization: 'Bearer wrong-token-000000000' } }]) {
      const res = await get('/__sluice/', init)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/html/)
      expect(res.headers.get('cache-control')).toBe('no-store')
      const html = await res.text()
      expect(html).toMatch(/^<!doctype html>/i)
      expect(html).toContain('data-testid="rollout-list"')
    }
    expect((await get('/__sluice/', { method: 'HEAD' })).status).toBe(200)
  })

  it('sends a strict CSP whose nonce matches the inline script and style, fresh per response', async () => {
    const res = await get()
    const policy = csp(res)
    const html = await res.text()
    const { nonce } = scriptOf(html)
    expect(nonce).toMatch(/^[A-Za-z0-9+/]{22}==$/)
    expect(policy.get('default-src')).toEqual(["'none'"])
    expect(policy.get('script-src')).toEqual([`'nonce-${nonce}'`])
    expect(policy.get('style-src')).toEqual([`'nonce-${nonce}'`])
    expect(policy.get('connect-src')).toEqual(["'self'"])
    expect(policy.get('img-src')).toEqual(["'self'", 'data:'])
    expect(policy.get('frame-ancestors')).toEqual(["'none'"])
    expect(policy.get('base-uri')).toEqual(["'none'"])
    expect(policy.get('form-action')).toEqual(["'none'"])
    expect(policy.get('require-trusted-types-for')).toEqual(["'script'"])
    // Every script and style element carries the nonce; there is exactly one of each, and no external script.
    expect(html.match(/<script\b[^>]*>/g)).toEqual([`<script nonce="${nonce}">`])
    expect(html.match(/<style\b[^>]*>/g)).toEqual([`<style nonce="${nonce}">`])
    expect(html).not.toMatch(/\sstyle="/)
    expect(html).not.toMatch(/\son[a-z]+="/)

    const again = scriptOf(await (await get()).text()).nonce
    expect(again).not.toBe(nonce)
  })

  it('sends the other security headers, and none that would act on the whole host', async () => {
    const res = await get()
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin')
    expect(res.headers.get('strict-transport-security')).toBeNull()
    expect(res.headers.get('origin-agent-cluster')).toBeNull()
  })

  it('holds no rollout data: ids and release labels only ever arrive through the API', async () => {
    await create('dash-shell-xss')
    const release = '<script>alert("shell")</script>'
    expect((await call('/rollouts/dash-shell-xss/start', { body: { release } })).status).toBe(200)
    for (const init of [{}, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }]) {
      const html = await (await get('/__sluice/', init)).text()
      expect(html).not.toContain('dash-shell-xss')
      expect(html).not.toContain('alert("shell")')
      expect(html).not.toContain(ADMIN_TOKEN)
    }
  })

  it('refers to nothing outside the page: no external src/href, no CSS url(), no absolute fetches', async () => {
    const html = await (await get()).text()
    const refs = [...html.matchAll(/\s(?:src|href|action|formaction|poster|srcset|background)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]!)
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of refs) expect(ref, `reference ${ref}`).toMatch(/^(?:data:|#)/)
    // The one absolute URL is the SVG namespace name, which is never fetched.
    expect(new Set(html.match(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)<]*/gi))).toEqual(new Set(['http://www.w3.org/2000/svg']))
    expect(CSS).not.toMatch(/url\(|@import/)
    expect(CLIENT_CONFIG.api).not.toMatch(/^[a-z]+:|^\/\//i)
  })

  it('leaves the rest of the reserved prefix alone: unknown paths 404, the API still wants credentials', async () => {
    for (const path of ['/__sluice/nope', '/__sluice/dashboard.js', '/__sluice/index.html', '/__sluice/api/../x']) {
      const res = await get(path)
      expect(res.status, path).toBe(404)
      expect(res.headers.get('content-security-policy'), `${path} is not the dashboard`).toBeNull()
    }
    expect((await get('/__sluice/', { method: 'POST' })).status).toBe(404)
    expect((await get('/__sluice/api/rollouts')).status).toBe(401)
    // healthz belongs to the edge worker (it reports the edge's config cache); the control worker does not serve it.
    expect((await get('/__sluice/healthz')).status).toBe(404)
  })
})

describe('the client script', () => {
  it('the sink scanner finds each sink it knows', () => {
    const samples: Record<string, string> = {
      innerHTML: 'el.innerHTML = data',
      outerHTML: 'el.outerHTML = data',
      insertAdjacentHTML: "el.insertAdjacentHTML('beforeend', data)",
      'document.write': 'page().document.write(data)',
      createContextualFragment: 'range.createContextualFragment(data)',
      DOMParser: 'new DOMParser().parseFromString(data, "text/html")',
      setHTMLUnsafe: 'el.setHTMLUnsafe(data)',
      srcdoc: "frame.setAttribute('srcdoc', data)",
      eval: 'eval(data)',
      Function: 'new Function(data)()',
      'string timer': "setTimeout('go()', 1)",
      'inline handler': "el.setAttribute('onclick', data)",
    }
    for (const [name, js] of Object.entries(samples)) expect(sinksIn(js), js).toEqual([name])
    expect(sinksIn("el.textContent = data; el.append(data); el.setAttribute('title', data)")).toEqual([])
  })

  it('never hands data to an HTML or code sink', async () => {
    const { js } = scriptOf(await (await get()).text())
    expect(js.length).toBeGreaterThan(1000)
    expect(sinksIn(js)).toEqual([])
    // The building blocks it uses instead.
    expect(js).toContain('createElementNS')
    expect(js).toContain('textContent')
  })

  it('cannot end its own script element early', () => {
    const js = clientScript({ ...CLIENT_CONFIG, storageKey: '</script><script>alert(1)</script>' })
    expect(js).not.toMatch(/<\/script/i)
    expect(js).not.toContain('<!--')
  })

  it('defines the helper that a keepNames build wraps inner functions in, under its bundled name', () => {
    expect(keepNamesShim('function a(){return n(()=>0,"f")}')).toBe('var n=(f)=>f;')
    expect(keepNamesShim('function probe() {\n  const f = /* @__PURE__ */ __name(() => 0, "f");\n  return f;\n}')).toBe('var __name=(f)=>f;')
    expect(keepNamesShim('function keepNamesProbe() {\n\tconst f = () => 0;\n\treturn f;\n}')).toBe('')
    // This build does not wrap names, so the script starts with the client code itself.
    expect(keepNamesShim(String(keepNamesProbe))).toBe('')
  })
})

describe('command buttons', () => {
  const schedule = [
    { weight: 10, bakeMinutes: 1, minRequests: 0, gate: false },
    { weight: 50, bakeMinutes: 1, minRequests: 0, gate: true },
    { weight: 100, bakeMinutes: 0, minRequests: 0, gate: false },
  ]
  const cmdOf = (name: CommandName): Command => (name === 'start' ? { name, release: 'r' } : name === 'weight' ? { name, weight: 20 } : { name })
  const status = (phase: string, release: string | null = 'v1') => ({ id: 'x', phase, release }) as unknown as RolloutStatus
  const on = (s: RolloutStatus, busy = false) => [...enabled(s, CLIENT_CONFIG, busy)].sort()

  it('offer what an operator can do in each phase', () => {
    expect(on(status('idle', null))).toEqual(['rollback', 'start', 'weight'])
    expect(on(status('progressing'))).toEqual(['pause', 'promote', 'rollback', 'weight'])
    expect(on(status('awaiting-approval'))).toEqual(['approve', 'pause', 'promote', 'rollback', 'weight'])
    expect(on(status('paused'))).toEqual(['promote', 'resume', 'rollback', 'weight'])
    expect(on(status('promoted'))).toEqual(['complete', 'rollback', 'weight'])
    expect(on(status('rolled-back'))).toEqual(['rollback', 'start', 'weight'])
    // Resume needs a release to resume; rollback is never off.
    expect(on(status('paused', null))).not.toContain('resume')
  })

  it('agree with the state machine in every phase, with and without a release', () => {
    for (const phase of PHASES) {
      for (const release of ['v1', null]) {
        const state = { ...initialState(0), phase, release, step: 0, weight: 10 }
        for (const name of COMMANDS) {
          const accepted = applyCommand(state, cmdOf(name), schedule, 1).ok
          expect(on(status(phase, release)).includes(name), `${name} while ${phase}, release ${release}`).toBe(accepted)
        }
      }
    }
  })

  it('are all off but rollback while a command is in flight, and all off with no rollout', () => {
    expect(on(status('progressing'), true)).toEqual(['rollback'])
    expect(enabled(null, CLIENT_CONFIG, false).size).toBe(0)
  })
})
