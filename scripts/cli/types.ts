/**
 * @module
 * The CLI's types: its options, its I/O, and what a command is. Apart from
 * commands.ts so that a command in a file of its own (wait.ts) can be typed
 * without importing the table that lists it.
 */
import type { Endpoint } from './http.ts'

export interface Options {
  url?: string
  token?: string
  json?: boolean
  reason?: string
  'if-match'?: string
  release?: string
  canary?: string
  stable?: string
  limit?: string
  before?: string
  'dry-run'?: boolean
  timeout?: string
  interval?: string
  help?: boolean
}

export type OptionName = keyof Options

export interface Io {
  out(text: string): void
  err(text: string): void
}

export interface Context {
  /** Resolved lazily: `--help` and usage errors need no endpoint. */
  endpoint(): Endpoint
  args: string[]
  opts: Options
  io: Io
}

export interface CommandDef {
  /** Positional arguments as shown in usage, e.g. `<id> <percent>`; `[x]` is optional. */
  args: string
  /** Options shown in the usage line after the arguments; default `--release LABEL` for a command taking it (start needs it). */
  flags?: string
  summary: string
  /** Extra paragraphs for `sluice <command> --help`. */
  details?: string
  options: OptionName[]
  /** Descriptions of options that mean something else for this command than OPTION_HELP says. */
  optionHelp?: Partial<Record<OptionName, string>>
  /** Exit codes of the command's own (wait's, for pipelines): its help table, and its code for a usage error. */
  exits?: { table: string; usage: number }
  /** Resolves with the exit code, or nothing for 0. */
  run(c: Context): Promise<number | void>
}
