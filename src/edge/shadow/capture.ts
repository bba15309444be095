/**
 * @module
 * Reads one answer of a mirrored request into a CapturedAnswer, within the shadow budgets: the compared headers and
 * at most the body's first `shadow.maxBodyBytes`, before the comparison's deadline. The shadow side never reads
 * further: a body that has not ended within maxBodyBytes is cut there, its branch cancelled (the visitor's branch
 * of stable's tee flows on from the origin), and it is compared by its declared `content-length` and the SHA-256 of
 * the bytes read. So the tee behind a mirrored visitor's answer holds at most maxBodyBytes for a slow visitor, and a
 * change only past maxBodyBytes that keeps the declared length is not seen (README, "Shadow traffic").
 * Never throws: whatever the origin does, the answer says what was read of it.
 */
import type { CapturedAnswer } from '../../core/shadow/index.ts'
import { ownPath } from '../proxy.ts'
import { type Deadline, EXPIRED } from './budget.ts'

/** Bytes asked for per read at most: a small body costs a small buffer, a large one no more reads than needed. */
const READ_SIZE = 16 * 1024

/** The answer of an origin that gave none in time (network error, timeout): compared by status only. */
export const NO_ANSWER: CapturedAnswer = Object.freeze({ status: 0, headers: {}, body: new Uint8Array(0), complete: false, length: null, hash: null })

export interface CaptureOptions {
  /** `shadow.headers`. */
  headers: readonly string[]
  maxBodyBytes: number
  /** The origin answering (`https://host[:port]`): a Location on its own host is compared as a path (relay() rewrites it to the public host). */
  origin: string
  deadline: Deadline
}

const ignore = () => {}

function capturedHeaders(res: Response, names: readonly string[], origin: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of names) {
    const name = raw.toLowerCase()
    let value = res.headers.get(name)
    if (value === null) continue
    // Each origin's redirects name its own host; the visitor sees both as the public host, and so does the diff.
    if (name === 'location') value = ownPath(value, origin) ?? value
    out[name] = value
  }
  return out
}

/**
 * The `content-length` the answer declares; null when it has none (a chunked body), not a number, or the body is
 * encoded: fetch hands over the decoded bytes while the header counts the compressed ones, and two origins that
 * compress the same content differently (another level, another encoder) would read as a length difference.
 */
function declaredLength(res: Response): number | null {
  const encoding = res.headers.get('content-encoding')
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return null
  const value = res.headers.get('content-length')?.trim()
  if (value === undefined || !/^\d{1,15}$/.test(value)) return null
  return Number(value)
}

function hex(buffer: ArrayBuffer): string {
  let s = ''
  for (const b of new Uint8Array(buffer)) s += b.toString(16).padStart(2, '0')
  return s
}

function joined(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/**
 * `res`'s status and headers with at most `o.maxBodyBytes` of `body` (its body, or a tee branch of it). Reads ask for
 * no more than the bytes left (a BYOB reader: every fetch body is a byte stream), so the limit is never passed by a
 * chunk. A body is complete when it ended before the limit; one of exactly maxBodyBytes counts as cut, since only a
 * further read could tell. A body that cannot be read to the limit in time (the deadline, an origin breaking off)
 * has neither length nor hash: a prefix of unknown length would hash differently on each side.
 */
export async function capture(res: Response, body: ReadableStream<Uint8Array> | null, o: CaptureOptions): Promise<CapturedAnswer> {
  const headers = capturedHeaders(res, o.headers, o.origin)
  if (body === null) return { status: res.status, headers, body: new Uint8Array(0), complete: true, length: 0, hash: null }
  const max = o.maxBodyBytes
  const parts: Uint8Array[] = []
  let kept = 0
  let reader: ReadableStreamBYOBReader | undefined
  const stop = () => void (reader ?? body).cancel().catch(ignore)
  const unread = (): CapturedAnswer => {
    stop()
    return { status: res.status, headers, body: joined(parts, kept), complete: false, length: null, hash: null }
  }
  try {
    reader = body.getReader({ mode: 'byob' })
    let scratch = new ArrayBuffer(Math.min(max, READ_SIZE))
    let ended = false
    while (kept < max) {
      const r = await Promise.race([reader.read(new Uint8Array(scratch, 0, Math.min(scratch.byteLength, max - kept))), o.deadline.expired])
      if (r === EXPIRED) return unread()
      if (r.done) {
        ended = true
        break
      }
      // A copy: the read hands the scratch buffer back (transferred), to be read into again.
      parts.push(r.value.slice())
      kept += r.value.byteLength
      scratch = r.value.buffer
    }
    // At the limit: not a byte further. Cancelling a tee branch leaves the other one flowing.
    if (!ended) stop()
    const all = joined(parts, kept)
    const hash = hex(await crypto.subtle.digest('SHA-256', all))
    return { status: res.status, headers, body: all, complete: ended, length: ended ? kept : declaredLength(res), hash }
  } catch {
    // The origin broke off mid-body, or the body is no byte stream: what was read is all there is.
    return unread()
  }
}
