/**
 * @module
 * `POST /__sluice/rum`: a beacon from the RUM script, validated and written
 * as one data point (src/contract/datapoint.ts, "Beacons"). Never proxied.
 *
 * The cohort is recomputed here from the visitor's cookie, with the same
 * assignment as page requests: nothing the payload says decides it, so a
 * client cannot poison one arm. A beacon from a visitor without a Sluice id
 * (no cookie) is acknowledged and dropped: it cannot be placed. Every refusal
 * is a 4xx; nothing here can answer 5xx.
 */
import * as z from 'zod/mini'
import { assign } from '../../core/cohort/assign.ts'
import { clientKey } from '../../core/cohort/client.ts'
import { inRumSample } from '../../core/cohort/hash.ts'
import { selectRollout } from '../../core/config/compile.ts'
import { encodeRumPoint } from '../../contract/datapoint.ts'
import { Beacon, MAX_BEACON_BYTES, fingerprint, pathOf } from '../../contract/rum.ts'
import { fieldErrors, problem } from '../../shared/problem.ts'
import type { ConfigStore } from '../config-store.ts'
import type { DataPointSink } from '../metrics.ts'

/**
 * A fixed one-minute window of counts per key, per isolate. Best effort by design: each isolate counts alone, and
 * when too many keys arrive in one minute the table starts afresh rather than grow; the judge's per-client units
 * are what bound one client's weight, this only bounds the work a flood costs.
 */
export class BeaconLimiter {
  #minute = -1
  #counts = new Map<string, number>()
  readonly maxKeys: number
  constructor(maxKeys = 20_000) {
    this.maxKeys = maxKeys
  }

  /** Counts one beacon for `key`; false when the key is over `max` this minute. */
  allow(key: string, max: number, now: number): boolean {
    const minute = Math.floor(now / 60_000)
    if (minute !== this.#minute || this.#counts.size >= this.maxKeys) {
      this.#minute = minute
      this.#counts.clear()
    }
    const n = (this.#counts.get(key) ?? 0) + 1
    this.#counts.set(key, n)
    return n <= max
  }
}

/** A body of at most `max` bytes as text, or null when it is longer (reading stops there). */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<string | null> {
  if (body === null) return ''
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    size += r.value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => {})
      return null
    }
    chunks.push(r.value)
  }
  const all = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    all.set(c, at)
    at += c.byteLength
  }
  return new TextDecoder().decode(all)
}

const TYPES = ['text/plain', 'application/json']
/** Addresses behind one NAT share a limit, so theirs is this many visitors' worth. */
const ADDRESS_SHARE = 10

const ack = (what: string) => new Response(null, { status: 204, headers: { 'cache-control': 'no-store', 'x-sluice-beacon': what } })

export interface BeaconDeps {
  store: ConfigStore
  limiter: BeaconLimiter
  sink: DataPointSink | undefined
  now?: () => number
}

export async function handleBeacon(request: Request, url: URL, env: EdgeEnv, ctx: ExecutionContext, deps: BeaconDeps): Promise<Response> {
  if (request.method !== 'POST') return problem(405, 'Method Not Allowed', 'beacons are POSTed', undefined, { allow: 'POST' })
  const type = (request.headers.get('content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase()
  if (!TYPES.includes(type)) return problem(415, 'Unsupported Media Type', 'a beacon is JSON sent as text/plain or application/json')
  const length = Number(request.headers.get('content-length') ?? 0)
  if (length > MAX_BEACON_BYTES) return problem(413, 'Content Too Large', `a beacon is at most ${MAX_BEACON_BYTES} bytes`)
  let text: string | null
  try {
    text = await readCapped(request.body, MAX_BEACON_BYTES)
  } catch {
    return problem(400, 'Bad Request', 'the beacon could not be read')
  }
  if (text === null) return problem(413, 'Content Too Large', `a beacon is at most ${MAX_BEACON_BYTES} bytes`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return problem(400, 'Bad Request', 'the beacon is not JSON')
  }
  const parsed = z.safeParse(Beacon, json)
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error.issues)
    return problem(400, 'Invalid beacon', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
  }
  const beacon = parsed.data

  // The script beacons from the page's own origin: another site's page posting its visitors' cookies here (a
  // SameSite=None cookie allows it) could fill a cohort with errors from real, distinct clients.
  const site = request.headers.get('sec-fetch-site')
  const origin = request.headers.get('origin')
  if ((site !== null && site !== 'same-origin') || (origin !== null && origin !== url.origin)) return ack('ignored: not from this site')
  const config = await deps.store.get(env.SLUICE_KV, (p) => ctx.waitUntil(p))
  const path = pathOf(beacon.path)
  const r = config && selectRollout(config, url.host, path.startsWith('/') ? path : '/')
  if (!r || !r.rollout.rum.enabled) return ack('ignored: no rollout collects real-user signals here')
  const headers = request.headers
  const clientIp = headers.get('cf-connecting-ip') ?? ''
  const cf = request.cf as { colo?: string; country?: string } | undefined
  // No new id: a beacon never sets a cookie, and one without an id cannot be placed in a cohort.
  const a = assign(r, { headers, url, clientIp, newId: () => '', cf, cookie: headers.get('cookie') })
  if (a.reason === 'weight' && (a.source === 'new' || a.source === 'derived')) return ack('ignored: no visitor id')
  if (a.reason === 'weight' && !inRumSample(r.salt, a.id!, r.rollout.rum.sampleRate)) return ack('ignored: visitor not sampled')
  const client = clientKey(clientIp)
  const now = (deps.now ?? Date.now)()
  const max = r.rollout.rum.maxBeaconsPerMinute
  if (!deps.limiter.allow(`v:${r.rollout.id}:${a.id ?? client}`, max, now) || !deps.limiter.allow(`c:${r.rollout.id}:${client}`, max * ADDRESS_SHARE, now)) {
    return problem(429, 'Too Many Requests', `at most ${max} beacons per visitor and minute`, undefined, { 'retry-after': '60' })
  }
  const first = beacon.errors[0]
  const v = beacon.vitals
  try {
    deps.sink?.writeDataPoint(
      encodeRumPoint({
        rolloutId: r.rollout.id,
        cohort: a.cohort,
        reason: a.reason,
        release: r.rollout.release ?? '',
        fingerprint: first ? fingerprint(first) : '',
        path,
        colo: cf?.colo ?? '',
        country: cf?.country ?? '',
        client,
        ring: a.ring ?? '',
        pageView: beacon.first,
        errored: beacon.first && beacon.errors.length > 0,
        errors: beacon.errors.length,
        lcp: v.lcp,
        inp: v.inp,
        cls: v.cls,
        ttfb: v.ttfb,
      }),
    )
  } catch {
    // Analytics Engine is best effort; the browser is owed nothing but the acknowledgement.
  }
  return ack('counted')
}
