/**
 * @module
 * The slice of autocannon's API the benchmark uses (the package ships no types).
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  export interface Request {
    method?: string
    path?: string
    headers?: Record<string, string>
    body?: string
  }

  export interface Options {
    url: string
    connections?: number
    /** Seconds. */
    duration?: number
    pipelining?: number
    /** Seconds. */
    timeout?: number
    requests?: Request[]
  }

  export interface Result {
    /** Seconds actually run. */
    duration: number
    errors: number
    timeouts: number
    non2xx: number
    '2xx': number
    requests: { total: number; sent: number; average: number }
  }

  /** Emits `response(client, statusCode, bytes, ms)` for every response; `ms` keeps sub-millisecond precision. */
  export interface Instance extends EventEmitter, PromiseLike<Result> {
    stop(): void
  }

  export default function autocannon(opts: Options): Instance
}
