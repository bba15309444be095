/**
 * @module
 * One origin's answer to a mirrored request as the comparison sees it: what the edge captured of it within the
 * shadow budgets (`shadow.maxBodyBytes`, `shadow.timeoutMs`).
 */
export interface CapturedAnswer {
  /** 0 when the origin gave no answer (network error, or none within the shadow timeout). */
  status: number
  /** The compared headers (`shadow.headers`) the answer has, by lower-case name. */
  headers: Record<string, string>
  /** The body's first bytes, at most `shadow.maxBodyBytes`. */
  body: Uint8Array
  /** Whether `body` is all of it. When not, the comparison falls back to `length` and `hash`. */
  complete: boolean
  /**
   * When not `complete`: the body's declared length (null without a `content-length`, or when encoded) and the SHA-256
   * (hex) of `body`, the bytes read; both null when the reading was cut short (a deadline, the origin breaking off).
   */
  length: number | null
  hash: string | null
}
