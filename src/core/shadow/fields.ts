/**
 * @module
 * The names of what a shadow comparison reports: a field and how it differs. Fields are `status`,
 * `header:<name>`, `body` (a non-JSON body, or JSON on one side only) or a JSON Pointer into a JSON body (RFC 6901,
 * with every array index written `*`: the elements of an array are one field). See "Reading a diff report" in the
 * README.
 */

/**
 * How two answers differ in one field: `missing` in the canary, `extra` in it, another JSON `type`, another `value`,
 * another array `length`.
 */
export const DIFF_KINDS = ['missing', 'extra', 'type', 'value', 'length'] as const
export type DiffKind = (typeof DIFF_KINDS)[number]

export interface FieldDiff {
  field: string
  kind: DiffKind
}

/** The longest field name kept: a longer one is cut (a point's blobs and the evidence stay small). */
export const MAX_FIELD_LENGTH = 200

/**
 * Whether `field` is named by an ignore-list entry (`shadow.ignore`): equal, or under it (`/meta` ignores `/meta/id`).
 * Header names are compared case-insensitively, as HTTP does (`header:X-Request-Id` ignores `header:x-request-id`).
 */
export const isIgnored = (field: string, ignore: readonly string[]): boolean =>
  ignore.some(
    (p) =>
      field === p ||
      (p.startsWith('/') && field.startsWith(p.endsWith('/') ? p : `${p}/`)) ||
      (p.startsWith('header:') && field.startsWith('header:') && field.toLowerCase() === p.toLowerCase()),
  )
