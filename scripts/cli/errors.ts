/**
 * @module
 * The CLI's local failures, each with its exit code in scripts/sluice.ts. Kept
 * apart from the modules that throw them so the entry point can recognise
 * them without loading zod (only `apply` needs it).
 */
import type { FieldError } from './http.ts'

/** Bad invocation (unknown command or option, missing or malformed argument): exit 2, nothing sent. */
export class UsageError extends Error {
  /** The command whose usage to show, if any. */
  readonly command: string | undefined
  constructor(message: string, command?: string) {
    super(message)
    this.command = command
  }
}

/** A config file that cannot be read or fails validation: exit 2, nothing sent. */
export class InvalidConfig extends Error {
  readonly errors: FieldError[]
  constructor(message: string, errors: FieldError[] = []) {
    super(message)
    this.errors = errors
  }
}
