/**
 * @module
 * Reads one answer of a mirrored request into a CapturedAnswer, within the shadow budgets: the compared headers,
 * the body's first `maxBodyBytes`, and the whole body's length and SHA-256 (workerd's DigestStream, so the bytes past
 * `maxBodyBytes` are hashed as they pass and never kept) up to HASH_CAP, all before the comparison's deadline.
 * Never throws: whatever the origin does, the answer says what was read of it.
 */
import type { CapturedAnswer } from '../../core/shadow/index.ts'
import { type Deadline, EXPIRED, giveBackReadAhead, takeReadAhead } from './budget.ts'

/**
 * Bytes of one body read (and hashed) at most. Past it the branch is cancelled and length and hash are null: a
 * comparison is about API answers and pages, not downloads, and hashing costs CPU the request is billed for. With
 * READ_AHEAD_CAP (budget.ts) it bounds what the shadow side may hold for a slow visitor.
 */
export const HASH_CAP = 8 * 1024 * 1024

/** The answer of an origin that gave none in time (network error, timeout): compared by status only. */
export const NO_ANSWER: CapturedAnswer = Object.freeze({ status: 0, headers: {}, body: new Uint8Array(0), complete: false, length: null, hash: null })

export interface CaptureOptions {
  /** `shadow.headers`. */
  headers: readonly string[]
  maxBodyBytes: number
  /** The origin answering (`https://host[:port]`): a Location on its own host is compared as a path, as relay() rewrites it. */
  origin: string
  deadline: Deadline
  /** Whether the body is a tee branch of what the visitor is sent (stable's), whose reads count against the read-ahead. */
  teed: boolean
}

const ignore = () => {}

function capturedHeaders(res: Response, names: readonly string[], origin: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const raw of names) {
    const name = raw.toLowerCase()
    let value = res.headers.get(name)
    if (value === null) continue
    // Each origin's redirects name its own host; the visitor sees both as the public host, and so does the diff.
    if (name === 'location' && value.startsWith(origin)) {
      const rest = value.slice(origin.length)
      if (rest === '' || rest.startsWith('/') || rest.startsWith('?') || rest.startsWith('#')) value = rest || '/'
    }
    out[name] = value
  }
  return out
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

/** `res`'s status and headers with `body` (its body, or a tee branch of it) read as far as the budgets allow. */
export async function capture(res: Response, body: ReadableStream<Uint8Array> | null, o: CaptureOptions): Promise<CapturedAnswer> {
  const headers = capturedHeaders(res, o.headers, o.origin)
  if (body === null) return { status: res.status, headers, body: new Uint8Array(0), complete: true, length: 0, hash: null }
  const parts: Uint8Array[] = []
  let kept = 0
  let length = 0
  let reserved = 0
  const reader = body.getReader()
  // Created only once the body is longer than what is kept: a shorter one is hashed in one call at its end.
  let digest: DigestStream | undefined
  let writer: WritableStreamDefaultWriter<ArrayBuffer | ArrayBufferView> | undefined
  const partial = (): CapturedAnswer => {
    reader.cancel().catch(ignore)
    writer?.abort().catch(ignore)
    return { status: res.status, headers, body: joined(parts, kept), complete: false, length: null, hash: null }
  }
  try {
    for (;;) {
      const r = await Promise.race([reader.read(), o.deadline.expired])
      if (r === EXPIRED) return partial()
      if (r.done) break
      const chunk = r.value
      length += chunk.byteLength
      if (length > HASH_CAP) return partial()
      if (o.teed) {
        if (!takeReadAhead(chunk.byteLength)) return partial()
        reserved += chunk.byteLength
      }
      // Copies: the chunk may be shared with the visitor's branch of the tee.
      if (kept < o.maxBodyBytes) {
        const part = chunk.slice(0, o.maxBodyBytes - kept)
        parts.push(part)
        kept += part.byteLength
        if (kept === length) continue
      }
      if (writer === undefined) {
        digest = new crypto.DigestStream('SHA-256')
        writer = digest.getWriter()
        // Observed here so that abandoning the hash (partial) leaves no rejection unhandled.
        writer.closed.catch(ignore)
        digest.digest.catch(ignore)
        for (const part of parts) await writer.write(part)
        // The part of this chunk already kept was written just now.
        if (kept > length - chunk.byteLength) {
          await writer.write(chunk.subarray(kept - (length - chunk.byteLength)))
          continue
        }
      }
      await writer.write(chunk)
    }
    const all = joined(parts, kept)
    let hash: ArrayBuffer
    if (writer === undefined) hash = await crypto.subtle.digest('SHA-256', all)
    else {
      await writer.close()
      hash = await digest!.digest
    }
    return { status: res.status, headers, body: all, complete: kept === length, length, hash: hex(hash) }
  } catch {
    // The origin broke off mid-body, or the hash failed: what was read is all there is.
    return partial()
  } finally {
    giveBackReadAhead(reserved)
  }
}
