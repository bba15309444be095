/**
 * @module
 * Compares two answers to one mirrored request (stable's and the canary's, or stable's twice for noise): which fields
 * differ and how (fields.ts), and one example pair of values. It runs in the edge's background for every mirrored
 * request, on bodies of up to `shadow.maxBodyBytes`, so it is bounded in time and never throws, whatever the origins
 * send.
 *
 * - `status`, and each captured header (`shadow.headers`) as `header:<name>`.
 * - The body: JSON structurally, by JSON Pointer, when both answers are complete JSON (declared by their
 *   content-type, else sniffed from a leading `{` or `[`); other text after normalising line ends, trailing
 *   whitespace and trailing newlines; anything else byte for byte; a body not read to its end by length, then hash.
 *
 * An answer with status 0 (none, or none in time) is compared by status only: its missing headers and body would
 * only say the same again, and push the fields that matter out of a point's short list.
 */
import type { CapturedAnswer } from './answer.ts'
import { type DiffKind, type FieldDiff, MAX_FIELD_LENGTH, isIgnored } from './fields.ts'
import type { DiffExample } from './window.ts'

export interface AnswerDiff {
  /** Each differing field not on the ignore list, once (the first kind found wins): status, headers, then the body in document order. */
  diffs: FieldDiff[]
  /** `diffs.length`: the data point keeps the count when its list is cut. */
  count: number
  /** The first of `diffs` with its two values, or null when nothing differs. */
  example: DiffExample | null
}

/** JSON containers nested deeper than this are compared as a whole and reported at their pointer as `value`. */
export const MAX_JSON_DEPTH = 32
/** JSON nodes walked per comparison; past it, the rest of each open container is compared as a whole and reported at its pointer as `value`. */
export const MAX_JSON_NODES = 10_000
/** The longest example value kept, `…` included. */
export const MAX_EXAMPLE_LENGTH = 200

const ABSENT = '(absent)'
const NOT_STORED = '(not stored)'
/** Header values that are credentials: compared, but never put into an example (which is stored and shown). */
const SECRET_HEADERS = new Set(['set-cookie', 'authorization', 'proxy-authorization', 'cookie'])
/**
 * A pointer is built up to this length only: past it, the field is cut anyway, and an ignore entry (at most 256
 * characters) is decided by its first 257.
 */
const POINTER_LIMIT = 512

const loose = new TextDecoder()
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** `s` cut to `max` characters (`mark` included), never between the two halves of a surrogate pair. */
function cut(s: string, max: number, mark: string): string {
  if (s.length <= max) return s
  let end = max - mark.length
  const code = s.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end--
  return s.slice(0, end) + mark
}

/** The name a field is stored under: cut, and on one line (a point's list is one field per line). */
const fieldName = (field: string) => cut(field, MAX_FIELD_LENGTH, '').replace(/[\r\n]/g, ' ')

/** The differences found so far. Each field is kept once: the first kind found for it wins. */
class Found {
  readonly diffs: FieldDiff[] = []
  example: DiffExample | null = null
  private readonly seen = new Set<string>()
  private readonly ignore: readonly string[]
  private readonly random: (() => number) | undefined

  constructor(ignore: readonly string[], random?: () => number) {
    this.ignore = ignore
    this.random = random
  }

  /** Records a difference; `undefined` stands for a value the answer does not have. */
  add<T>(field: string, kind: DiffKind, stable: T | undefined, canary: T | undefined, render: (value: T) => string): void {
    const name = fieldName(field)
    if (this.seen.has(name)) return
    this.seen.add(name)
    // The full name decides what the ignore list names; the cut one too, so no stored field is ever one it names.
    if (isIgnored(field, this.ignore) || isIgnored(name, this.ignore)) return
    this.diffs.push({ field: name, kind })
    // With `random`, each difference is the example with equal chance (reservoir sampling): one point carries one
    // example, and the report promises one per field, so over many points every field gets its turn.
    const n = this.diffs.length
    if (this.example === null || (this.random !== undefined && this.random() * n < 1)) {
      this.example = { field: name, kind, stable: show(stable, render), canary: show(canary, render) }
    }
  }
}

const show = <T>(value: T | undefined, render: (value: T) => string) => (value === undefined ? ABSENT : cut(render(value), MAX_EXAMPLE_LENGTH, '…'))

/**
 * Compares `canary` with `stable`. Pure, bounded, and it never throws. The example is of the first difference, or,
 * given `random` (uniform in [0, 1)), of one chosen at random.
 */
export function diffAnswers(stable: CapturedAnswer, canary: CapturedAnswer, opts: { ignore: readonly string[]; random?: () => number }): AnswerDiff {
  const found = new Found(opts.ignore, opts.random)
  if (stable.status !== canary.status) found.add('status', 'value', stable.status, canary.status, String)
  if (stable.status !== 0 && canary.status !== 0) {
    diffHeaders(found, stable.headers, canary.headers)
    diffBodies(found, stable, canary)
  }
  return { diffs: found.diffs, count: found.diffs.length, example: found.example }
}

function diffHeaders(found: Found, stable: Record<string, string>, canary: Record<string, string>): void {
  for (const name of Object.keys(stable)) {
    const render = SECRET_HEADERS.has(name) ? notStored : String
    if (!Object.hasOwn(canary, name)) found.add(`header:${name}`, 'missing', stable[name], undefined, render)
    else if (stable[name] !== canary[name]) found.add(`header:${name}`, 'value', stable[name], canary[name], render)
  }
  for (const name of Object.keys(canary)) {
    if (!Object.hasOwn(stable, name)) found.add(`header:${name}`, 'extra', undefined, canary[name], SECRET_HEADERS.has(name) ? notStored : String)
  }
}

const notStored = () => NOT_STORED

/** A body as the comparison reads it. */
interface Body {
  answer: CapturedAnswer
  /** The decoded text; null for a binary body. */
  text: string | null
  /** The parsed JSON; undefined when the body is not JSON (JSON.parse never returns undefined). */
  json: unknown
}

function diffBodies(found: Found, stable: CapturedAnswer, canary: CapturedAnswer): void {
  if (!stable.complete || !canary.complete) {
    // Not read to its end: only the declared length and the hash of what was read say anything; either unknown, nothing does.
    if (stable.length !== null && canary.length !== null && stable.length !== canary.length) found.add('body', 'length', stable, canary, summary)
    else if (stable.hash !== null && canary.hash !== null && stable.hash !== canary.hash) found.add('body', 'value', stable, canary, summary)
    return
  }
  // Most answers are the same bytes: no decoding or parsing for them.
  if (sameBytes(stable.body, canary.body)) return
  const s = readBody(stable)
  const c = readBody(canary)
  if (s.json !== undefined && c.json !== undefined) new JsonWalk(found).walk(s.json, c.json, 0)
  else if (s.json !== undefined || c.json !== undefined) found.add('body', 'type', s, c, renderBody)
  else if (s.text !== null && c.text !== null) {
    if (!sameText(s.text, c.text)) found.add('body', 'value', s, c, renderBody)
  } else found.add('body', stable.body.length !== canary.body.length ? 'length' : 'value', s, c, renderBody)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** The media type of a content-type header, lower case without parameters; null when the answer has none captured. */
function mediaType(headers: Record<string, string>): string | null {
  if (!Object.hasOwn(headers, 'content-type')) return null
  const value = String(headers['content-type'])
  const semi = value.indexOf(';')
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase()
}

const isJsonType = (type: string) => type === 'application/json' || type.endsWith('+json')
const isTextType = (type: string) =>
  type.startsWith('text/') || type.includes('json') || type.includes('xml') || type.includes('javascript') || type.includes('ecmascript')

/** Whether the first byte that is not JSON whitespace opens an object or an array. */
function looksLikeJson(body: Uint8Array): boolean {
  for (let i = 0; i < body.length; i++) {
    const b = body[i]
    if (b === 0x7b || b === 0x5b) return true
    if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return false
  }
  return false
}

function readBody(answer: CapturedAnswer): Body {
  const type = mediaType(answer.headers)
  if (type === null ? looksLikeJson(answer.body) : isJsonType(type)) {
    const text = loose.decode(answer.body)
    try {
      return { answer, text, json: JSON.parse(text) }
    } catch {
      return { answer, text, json: undefined }
    }
  }
  if (type !== null) return { answer, text: isTextType(type) ? loose.decode(answer.body) : null, json: undefined }
  // Nothing declared: text if it is valid UTF-8.
  try {
    return { answer, text: strict.decode(answer.body), json: undefined }
  } catch {
    return { answer, text: null, json: undefined }
  }
}

/** Equal after normalising: CRLF as LF, no trailing whitespace on a line, no trailing newlines. */
function sameText(a: string, b: string): boolean {
  if (a === b) return true
  // Split and trimEnd rather than a regex: /[ \t]+$/gm is quadratic on a long run of spaces, and bodies are the origins'.
  const la = a.split('\n')
  const lb = b.split('\n')
  const end = (lines: string[]) => {
    let n = lines.length
    while (n > 0 && lines[n - 1]!.trimEnd() === '') n--
    return n
  }
  const n = end(la)
  if (n !== end(lb)) return false
  for (let i = 0; i < n; i++) if (la[i]!.trimEnd() !== lb[i]!.trimEnd()) return false
  return true
}

/** A body in an example: its text (cut by the example's length), or for a binary body its size and hash. */
const renderBody = (body: Body) => (body.text !== null ? body.text : summary(body.answer))

function summary(answer: CapturedAnswer): string {
  const bytes = answer.length ?? answer.body.length
  return answer.hash === null ? `(${bytes} bytes)` : `(${bytes} bytes, sha256 ${answer.hash.slice(0, 12)}…)`
}

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object'

const jsonType = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType))

/** RFC 6901: `~` as `~0`, `/` as `~1`. */
const escapeToken = (token: string) => (token.includes('~') || token.includes('/') ? token.replaceAll('~', '~0').replaceAll('/', '~1') : token)

/**
 * The structural walk over two parsed JSON documents. The path is a stack of raw tokens (`*` for any array index),
 * joined into a pointer only when a difference is reported.
 */
class JsonWalk {
  private readonly path: string[] = []
  private nodes = 0
  private readonly found: Found

  constructor(found: Found) {
    this.found = found
  }

  /** The current pointer; the root is the field `body` (an empty field cannot be stored or ignored). */
  private pointer(): string {
    if (this.path.length === 0) return 'body'
    let p = ''
    for (const token of this.path) {
      p += '/' + escapeToken(token.length > POINTER_LIMIT ? token.slice(0, POINTER_LIMIT) : token)
      if (p.length > POINTER_LIMIT) break
    }
    return p
  }

  private report(kind: DiffKind, a: unknown, b: unknown): void {
    this.found.add(this.pointer(), kind, a, b, preview)
  }

  walk(a: unknown, b: unknown, depth: number): void {
    this.nodes++
    const type = jsonType(a)
    if (type !== jsonType(b)) this.report('type', a, b)
    else if (type !== 'array' && type !== 'object') {
      if (a !== b) this.report('value', a, b)
    } else if (depth >= MAX_JSON_DEPTH) {
      if (!sameJson(a, b)) this.report('value', a, b)
    } else if (type === 'array') this.arrays(a as unknown[], b as unknown[], depth)
    else this.objects(a as Record<string, unknown>, b as Record<string, unknown>, depth)
  }

  private arrays(a: unknown[], b: unknown[], depth: number): void {
    if (a.length !== b.length) this.report('length', a, b)
    const n = Math.min(a.length, b.length)
    let rest = -1
    this.path.push('*')
    for (let i = 0; i < n; i++) {
      if (this.nodes >= MAX_JSON_NODES) {
        rest = i
        break
      }
      this.walk(a[i], b[i], depth + 1)
    }
    this.path.pop()
    if (rest !== -1) {
      for (let i = rest; i < n; i++) {
        if (!sameJson(a[i], b[i])) return this.report('value', a, b)
      }
    }
  }

  private objects(a: Record<string, unknown>, b: Record<string, unknown>, depth: number): void {
    const keys = Object.keys(a)
    let i = 0
    for (; i < keys.length && this.nodes < MAX_JSON_NODES; i++) {
      const key = keys[i]!
      this.path.push(key)
      if (Object.hasOwn(b, key)) this.walk(a[key], b[key], depth + 1)
      else {
        this.nodes++
        this.report('missing', a[key], undefined)
      }
      this.path.pop()
    }
    // Out of budget: whatever is left of this object, compared as a whole.
    for (; i < keys.length; i++) {
      const key = keys[i]!
      if (!Object.hasOwn(b, key) || !sameJson(a[key], b[key])) return this.report('value', a, b)
    }
    for (const key of Object.keys(b)) {
      if (Object.hasOwn(a, key)) continue
      if (this.nodes >= MAX_JSON_NODES) return this.report('value', a, b)
      this.nodes++
      this.path.push(key)
      this.report('extra', undefined, b[key])
      this.path.pop()
    }
  }
}

/** Deep equality of parsed JSON (key order aside), with its own stack: the depth of what it is given is the origins'. */
function sameJson(a: unknown, b: unknown): boolean {
  const stack: unknown[] = [a, b]
  while (stack.length > 0) {
    const y = stack.pop()
    const x = stack.pop()
    if (x === y) continue
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false
    if (Array.isArray(x) !== Array.isArray(y)) return false
    if (Array.isArray(x)) {
      const ys = y as unknown[]
      if (x.length !== ys.length) return false
      for (let i = 0; i < x.length; i++) stack.push(x[i], ys[i])
      continue
    }
    const xo = x as Record<string, unknown>
    const yo = y as Record<string, unknown>
    const keys = Object.keys(xo)
    if (keys.length !== Object.keys(yo).length) return false
    for (const key of keys) {
      if (!Object.hasOwn(yo, key)) return false
      stack.push(xo[key], yo[key])
    }
  }
  return true
}

/**
 * A JSON value as JSON.stringify writes it, but only its first MAX_EXAMPLE_LENGTH characters or so: the example of
 * a difference in a huge container costs no more than a small one, and the recursion ends with the budget.
 */
function preview(value: unknown): string {
  let out = ''
  const put = (v: unknown): void => {
    if (typeof v === 'string') out += JSON.stringify(v.length > MAX_EXAMPLE_LENGTH ? v.slice(0, MAX_EXAMPLE_LENGTH) : v)
    else if (v === null || typeof v !== 'object') out += String(v)
    else if (Array.isArray(v)) {
      out += '['
      for (let i = 0; i < v.length && out.length <= MAX_EXAMPLE_LENGTH; i++) {
        if (i > 0) out += ','
        put(v[i])
      }
      out += ']'
    } else {
      out += '{'
      let first = true
      for (const key in v) {
        if (out.length > MAX_EXAMPLE_LENGTH) break
        out += (first ? '' : ',') + JSON.stringify(key.length > MAX_EXAMPLE_LENGTH ? key.slice(0, MAX_EXAMPLE_LENGTH) : key) + ':'
        first = false
        put((v as Record<string, unknown>)[key])
      }
      out += '}'
    }
  }
  put(value)
  return out
}
