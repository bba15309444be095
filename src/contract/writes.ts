/**
 * @module
 * How the coordinator answers a write, as the admin API (which turns it into
 * HTTP) and the controller read it: the value and whether it reached KV, or a
 * refusal with the status and fields to report.
 */
import type { Actor, FieldError } from './responses.ts'

/** A refusal, which the admin API answers as a problem document of that status. */
export type Refusal = { status: 400 | 404 | 409 | 412; title: string; detail: string; errors?: FieldError[] }
export type Result<T> = { ok: true; value: T; published: boolean } | { ok: false; problem: Refusal }

export interface WriteOptions {
  actor: Actor
  /** The revision the caller last saw (If-Match); a mismatch is a 412. */
  ifMatch?: number
  reason?: string
}

/** What the controller read before judging; a decision is applied only if nothing changed since. */
export interface DecisionBasis {
  revision: number
  windowEnd: number | null
}
