/**
 * @module
 * The app: sign-in, refreshes, drawing the regions, commands and their dialog, and `main`.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { HistoryEntry, RolloutStatus, SeriesPoint } from '../../contract/index.ts'
import type { ClientConfig } from '../commands.ts'
import type { El, Ev } from '../dom.ts'
import type { Problem, Reply } from './api.ts'
import type { State } from './state.ts'
import type * as Api from './api.ts'
import type * as Chart from './chart.ts'
import type * as Diff from './diff.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'
import type * as Rings from './rings.ts'
import type * as Rum from './rum.ts'
import type * as Status from './status.ts'

declare const call: typeof Api.call, asProblem: typeof Api.asProblem
declare const downsample: typeof Chart.downsample, chartSummary: typeof Chart.chartSummary, renderChart: typeof Chart.renderChart
declare const diffPath: typeof Diff.diffPath, drawDiff: typeof Diff.drawDiff
declare const page: typeof Dom.page, byId: typeof Dom.byId, h: typeof Dom.h, cls: typeof Dom.cls, redraw: typeof Dom.redraw
declare const num: typeof Format.num, pct: typeof Format.pct, clock: typeof Format.clock, stamp: typeof Format.stamp
declare const renderRingWeights: typeof Rings.renderRingWeights, renderRingVerdicts: typeof Rings.renderRingVerdicts
declare const renderStatusFigures: typeof Rum.renderStatusFigures
declare const stepText: typeof Status.stepText,
  bakeText: typeof Status.bakeText,
  enabled: typeof Status.enabled,
  renderItem: typeof Status.renderItem,
  renderSchedule: typeof Status.renderSchedule,
  renderBar: typeof Status.renderBar,
  renderEntry: typeof Status.renderEntry,
  renderProblem: typeof Status.renderProblem

export function loadToken(key: string): string | null {
  try {
    return page().sessionStorage.getItem(key)
  } catch {
    return null
  }
}

export function saveToken(key: string, token: string | null): void {
  try {
    if (token === null) page().sessionStorage.removeItem(key)
    else page().sessionStorage.setItem(key, token)
  } catch {
    // Storage refused (private mode, policy): the token then lives only as long as this page.
  }
}

export function hashId(): string {
  try {
    return decodeURIComponent(page().location.hash.replace(/^#/, ''))
  } catch {
    return ''
  }
}

/** Fills a message region, hiding it when empty. */
export function region(id: string, el: El | null): void {
  const box = byId(id)
  if (el) box.replaceChildren(el)
  else box.replaceChildren()
  box.hidden = el === null
}

export function showProblem(p: Problem | null): void {
  region('problem', p ? renderProblem(p) : null)
}

export function notice(text: string | null): void {
  region('notice', text === null ? null : h('span', null, text))
}

export function banner(p: Problem | null): void {
  region('banner', p ? renderProblem(p) : null)
}

/** Forgets everything shown: after a refused token, no data from the previous one may stay on screen. */
export function clearData(st: State): void {
  st.rollouts = []
  st.status = null
  st.selected = null
  st.drawn = {}
  byId('rollout-list').replaceChildren()
  byId('history').replaceChildren()
  byId('chart-box').replaceChildren()
  byId('diff').replaceChildren()
  byId('detail').hidden = true
  showProblem(null)
  notice(null)
}

export function askToken(st: State, message: string | null): void {
  if (st.token !== null) saveToken(st.cfg.storageKey, null)
  st.token = null
  clearData(st)
  byId('app').hidden = true
  byId('forget').hidden = true
  byId('who').textContent = ''
  byId('token-form').hidden = false
  const err = byId('token-error')
  err.textContent = message ?? ''
  err.hidden = message === null
  byId('token-input').focus()
}

export function signedIn(st: State): void {
  byId('token-form').hidden = true
  byId('app').hidden = false
  byId('forget').hidden = st.token === null
  byId('who').textContent = st.token === null ? 'signed in via Cloudflare Access' : 'signed in with a token'
}

export function drawList(st: State): void {
  redraw(st, 'list', [st.selected, st.rollouts.map((r) => [r.id, r.phase, r.weight, r.release])], () => {
    const list = byId('rollout-list')
    const active = page().document.activeElement
    const focused = active ? active.getAttribute('data-rollout') : null
    const items = st.rollouts.map((r) => renderItem(r, r.id === st.selected))
    list.replaceChildren(...items)
    byId('list-empty').hidden = st.rollouts.length > 0
    // Rebuilt links are new elements: put keyboard focus back where it was.
    const again = focused === null ? -1 : st.rollouts.findIndex((r) => r.id === focused)
    if (again >= 0) items[again]!.firstElementChild?.focus()
  })
}

export function drawStatus(st: State): void {
  const s = st.status
  byId('detail').hidden = s === null
  drawCommands(st)
  if (!s) return
  redraw(st, 'status', s, () => {
    byId('rollout-title').textContent = s.id
    const phase = byId('phase')
    phase.textContent = s.phase
    phase.setAttribute('class', `badge big-badge phase-${cls(s.phase)}`)
    byId('weight').textContent = pct(s.weight)
    byId('weight-bar').replaceChildren(renderBar(s.weight), renderRingWeights(s))
    byId('step').textContent = stepText(s)
    byId('release').textContent = s.release ?? '—'
    byId('revision').textContent = String(s.revision)
    const updated = byId('updated')
    updated.textContent = stamp(s.updatedAt)
    updated.setAttribute('datetime', s.updatedAt)
    byId('origins').replaceChildren(
      h('div', null, h('span', { class: 'muted' }, 'stable '), h('code', null, s.spec.stable)),
      h('div', null, h('span', { class: 'muted' }, 'canary '), h('code', null, s.spec.canary)),
    )
    byId('schedule').replaceChildren(renderSchedule(s))
    const d = s.lastDecision
    const rings = renderRingVerdicts(d?.data?.rings)
    const figures = renderStatusFigures(s)
    byId('last-decision').replaceChildren(
      ...(d
        ? [
            h('span', { class: `kind kind-${cls(d.kind)}` }, d.kind),
            ' ',
            h('span', null, d.reason),
            ' ',
            h('time', { class: 'muted small' }, stamp(d.at)),
            ...(figures ? [figures] : []),
            ...(rings ? [rings] : []),
          ]
        : ['—']),
    )
    byId('weight-input').setAttribute('placeholder', num(s.weight))
  })
  byId('time-left').textContent = bakeText(s, Date.now())
}

export function drawCommands(st: State): void {
  const on = enabled(st.status, st.cfg, st.busy)
  for (const c of st.cfg.commands) byId(`cmd-${c}`).disabled = !on.has(c)
}

export function drawSeries(st: State, r: Reply): void {
  if (r.status !== 200) {
    st.drawn.series = ''
    byId('chart-box').replaceChildren(renderProblem(asProblem(r)))
    return
  }
  const points = ((r.body as { points?: SeriesPoint[] } | null)?.points ?? []).filter((p) => p && typeof p.at === 'number')
  redraw(st, 'series', points, () => {
    byId('chart-box').replaceChildren(renderChart(points))
    byId('chart-latest').textContent = chartSummary(downsample(points, 360))
  })
}

export function drawHistory(st: State, r: Reply): void {
  if (r.status !== 200) {
    st.drawn.history = ''
    byId('history').replaceChildren(h('li', null, renderProblem(asProblem(r))))
    return
  }
  const body = (r.body ?? {}) as { entries?: HistoryEntry[]; next?: number | null }
  redraw(st, 'history', body, () => {
    byId('history').replaceChildren(...(body.entries ?? []).map(renderEntry))
    byId('history-more').hidden = body.next === null || body.next === undefined || st.historyLimit >= 200
  })
}

/** Picks the rollout to show: the one in the URL, else the one on screen, else the first. */
export function pick(rollouts: RolloutStatus[], current: string | null, wanted: string): string | null {
  if (wanted && rollouts.some((r) => r.id === wanted)) return wanted
  if (current && rollouts.some((r) => r.id === current)) return current
  return rollouts[0]?.id ?? null
}

/** One refresh: the list (which carries each rollout's status), then the selected rollout's series, history and diff report. */
export async function load(st: State, gen: number): Promise<boolean> {
  const list = await call(st, '/rollouts')
  if (gen !== st.gen) return false
  // 401: no or wrong credentials. 400 with a token: the token is not even well-formed.
  if (list.status === 401 || (list.status === 400 && st.token !== null)) {
    askToken(st, st.token === null ? null : `The token was not accepted: ${asProblem(list).detail}`)
    return false
  }
  if (list.status !== 200) {
    banner(asProblem(list))
    return true
  }
  banner(null)
  signedIn(st)
  const before = st.selected
  st.rollouts = ((list.body as { rollouts?: RolloutStatus[] } | null)?.rollouts ?? []).filter((r) => r && typeof r.id === 'string')
  st.selected = pick(st.rollouts, st.selected, hashId())
  st.status = st.rollouts.find((r) => r.id === st.selected) ?? null
  if (st.selected !== before) {
    // Another rollout: never show the previous one's chart, history or messages under its name.
    showProblem(null)
    notice(null)
    st.drawn.series = ''
    st.drawn.history = ''
    byId('chart-box').replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
    byId('chart-latest').textContent = ''
    byId('history').replaceChildren()
    drawDiff(st, null)
  }
  drawList(st)
  drawStatus(st)
  if (st.status) {
    const id = encodeURIComponent(st.status.id)
    const diff = diffPath(st.status)
    const [series, history, report] = await Promise.all([
      call(st, `/rollouts/${id}/series?limit=${st.range}`),
      call(st, `/rollouts/${id}/history?limit=${st.historyLimit}`),
      diff === null ? null : call(st, diff),
    ])
    if (gen !== st.gen) return false
    drawSeries(st, series)
    drawHistory(st, history)
    drawDiff(st, report)
  }
  byId('refreshed').textContent = `updated ${clock(Date.now(), true)}`
  return true
}

export async function refresh(st: State): Promise<void> {
  const gen = ++st.gen
  page().clearTimeout(st.timer)
  let again = false
  try {
    again = await load(st, gen)
  } catch (err) {
    banner({ title: 'Dashboard error', detail: String(err) })
    again = true
  }
  // Polling waits for the previous refresh, so a slow API never piles up requests; a hidden tab does not poll.
  if (again && gen === st.gen) {
    st.timer = page().setTimeout(() => {
      if (!page().document.hidden) void refresh(st)
    }, st.cfg.refreshMs)
  }
}

export function setBusy(st: State, busy: boolean): void {
  st.busy = busy
  drawCommands(st)
}

export async function send(st: State, name: string, body: Record<string, unknown>): Promise<void> {
  const s = st.status
  if (!s || (st.busy && name !== 'rollback')) return
  const reason = byId('reason').value.trim()
  setBusy(st, true)
  showProblem(null)
  notice(null)
  const r = await call(st, `/rollouts/${encodeURIComponent(s.id)}/${name}`, {
    method: 'POST',
    body: { ...body, ...(reason ? { reason } : {}) },
    ...(st.cfg.ifMatch.includes(name) ? { ifMatch: s.revision } : {}),
  })
  setBusy(st, false)
  if (r.status === 200) {
    const now = r.body as RolloutStatus
    byId('reason').value = ''
    byId('weight-input').value = ''
    notice(`${name} ${s.id}: now ${now.phase} at ${pct(now.weight)}.`)
  } else if (r.status === 401) {
    askToken(st, 'The token was not accepted.')
    return
  } else {
    const p = asProblem(r)
    if (r.status === 412) p.detail = `${p.detail}. The rollout changed since this page showed it: check it and try again.`
    showProblem(p)
  }
  await refresh(st)
}

export interface Confirm {
  title: string
  text: string
  ok: string
  danger: boolean
}

/** Dialog wording per command: what will happen, in the operator's terms. */
export function confirmText(name: string, s: RolloutStatus, body: Record<string, unknown>): Confirm {
  const first = s.spec.schedule[0]
  switch (name) {
    case 'start':
      return {
        title: `Start a release on ${s.id}`,
        text: `The canary gets ${pct(first?.weight)} of traffic at once, then follows the schedule.`,
        ok: 'Start',
        danger: false,
      }
    case 'weight':
      return {
        title: `Set the weight of ${s.id}`,
        text: `Send ${pct(body.weight)} of traffic to the canary? Automation pauses until someone resumes.`,
        ok: 'Set weight',
        danger: false,
      }
    case 'promote':
      return {
        title: `Promote ${s.id}`,
        text: `Send 100 % of traffic to ${s.release ?? 'the canary'} now, skipping the remaining steps and checks?`,
        ok: 'Promote',
        danger: true,
      }
    case 'rollback':
      return { title: `Roll back ${s.id}`, text: 'Send all traffic to stable at once?', ok: 'Roll back', danger: true }
    default:
      return {
        title: `Complete ${s.id}`,
        text: `The canary origin ${s.spec.canary} becomes stable, and ${s.spec.stable} becomes the canary for the next release.`,
        ok: 'Complete',
        danger: true,
      }
  }
}

export function ask(st: State, name: string, body: Record<string, unknown>): void {
  const s = st.status
  if (!s) return
  const t = confirmText(name, s, body)
  st.pending = { name, body }
  byId('dialog-title').textContent = t.title
  byId('dialog-text').textContent = t.text
  byId('dialog-error').textContent = ''
  const input = byId('dialog-input')
  input.value = ''
  byId('dialog-field').hidden = name !== 'start'
  const ok = byId('dialog-confirm')
  ok.textContent = t.ok
  ok.setAttribute('class', t.danger ? 'danger' : 'primary')
  byId('dialog').showModal()
  // Rollback confirms with Enter; the other drastic ones start on Cancel.
  if (name === 'start') input.focus()
  else if (name === 'rollback' || !t.danger) ok.focus()
  else byId('dialog-cancel').focus()
}

export function onCommand(st: State, name: string): void {
  if (!st.status || (st.busy && name !== 'rollback')) return
  let body: Record<string, unknown> = {}
  if (name === 'weight') {
    const raw = byId('weight-input').value.trim()
    const w = Number(raw)
    if (raw === '' || !Number.isFinite(w) || w < 0 || w > 100 || Math.round(w * 100) !== w * 100) {
      showProblem({ title: 'Invalid weight', detail: 'Enter a canary weight from 0 to 100 %, with at most two decimals.' })
      return
    }
    body = { weight: w }
  }
  if (st.cfg.confirm.includes(name)) ask(st, name, body)
  else void send(st, name, body)
}

export function onDialog(st: State, e: Ev): void {
  e.preventDefault()
  const p = st.pending
  if (!p) return
  const body = { ...p.body }
  if (p.name === 'start') {
    const release = byId('dialog-input').value.trim()
    if (release.length < 1 || release.length > 64) {
      byId('dialog-error').textContent = 'Enter a release label of 1 to 64 characters.'
      return
    }
    body.release = release
  }
  st.pending = null
  byId('dialog').close()
  void send(st, p.name, body)
}

export function onToken(st: State, e: Ev): void {
  e.preventDefault()
  const v = byId('token-input').value.trim()
  // What a Bearer header can carry (RFC 6750 token68); anything else would be refused as malformed.
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(v)) {
    const err = byId('token-error')
    err.textContent = 'A token is letters, digits and - . _ ~ + / only, as issued.'
    err.hidden = false
    return
  }
  st.token = v
  saveToken(st.cfg.storageKey, v)
  byId('token-input').value = ''
  void refresh(st)
}

export function onForget(st: State): void {
  saveToken(st.cfg.storageKey, null)
  st.token = null
  clearData(st)
  // Behind Access this reloads without a token; otherwise the API's 401 brings the form back.
  void refresh(st)
}

/** Keeps "time left" counting between refreshes. */
export function tick(st: State): void {
  if (st.status) byId('time-left').textContent = bakeText(st.status, Date.now())
  page().setTimeout(() => tick(st), 1000)
}

export function main(cfg: ClientConfig): State {
  const st: State = {
    cfg,
    token: loadToken(cfg.storageKey),
    rollouts: [],
    selected: null,
    status: null,
    drawn: {},
    gen: 0,
    timer: undefined,
    pending: null,
    busy: false,
    range: 360,
    historyLimit: 50,
  }
  byId('token-form').addEventListener('submit', (e) => onToken(st, e))
  byId('forget').addEventListener('click', () => onForget(st))
  for (const c of cfg.commands) byId(`cmd-${c}`).addEventListener('click', () => onCommand(st, c))
  byId('dialog-form').addEventListener('submit', (e) => onDialog(st, e))
  byId('dialog-cancel').addEventListener('click', () => byId('dialog').close())
  byId('dialog').addEventListener('close', () => {
    st.pending = null
  })
  const range = byId('range')
  range.addEventListener('change', () => {
    st.range = Number(range.value) || 360
    st.drawn.series = ''
    void refresh(st)
  })
  byId('history-more').addEventListener('click', () => {
    st.historyLimit = Math.min(200, st.historyLimit + 50)
    void refresh(st)
  })
  page().addEventListener('hashchange', () => void refresh(st))
  page().document.addEventListener('visibilitychange', () => {
    if (!page().document.hidden) void refresh(st)
  })
  void refresh(st)
  tick(st)
  return st
}
