/**
 * @module
 * The parser of the published document (the one KV key the edge reads). Pure
 * code, so the edge, which serves by it, and the coordinator, which runs it
 * before every write to refuse what the edge would reject, share one copy
 * without either depending on the other.
 */
import * as z from 'zod/mini'
import { MAX_ROLLOUTS } from './limits.ts'
import { EdgeRollout, type PublishedConfig } from './routing.ts'

/** Why the edge refused an entry of the document, or the whole document. */
export interface Rejection {
  /** The rollout whose entry was refused; absent when the entry has no id or the whole document was refused. */
  rollout?: string
  error: string
}

export type ParseResult = { ok: true; config: PublishedConfig; rejected: Rejection[] } | { ok: false; error: string }

const idOf = (entry: unknown) => {
  const id = (entry as { id?: unknown } | null)?.id
  return typeof id === 'string' ? id : undefined
}

/**
 * Parses the published document entry by entry; never throws. An invalid entry, every entry of an id named
 * more than once (which of them is meant cannot be known) and entries past `MAX_ROLLOUTS` are rejected alone,
 * so one bad rollout never holds back another's change, a rollback above all. Only a document that is not
 * JSON with a `rollouts` array is refused whole. The coordinator runs this too, before it publishes.
 */
export function parseConfig(text: string): ParseResult {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: 'not JSON' }
  }
  const entries = (json as { rollouts?: unknown } | null)?.rollouts
  if (!Array.isArray(entries)) return { ok: false, error: 'rollouts: must be an array' }
  const ids = entries.map(idOf)
  const named = new Map<string, number>()
  for (const id of ids) if (id !== undefined) named.set(id, (named.get(id) ?? 0) + 1)
  const rollouts: EdgeRollout[] = []
  const rejected: Rejection[] = []
  entries.forEach((entry, i) => {
    const id = ids[i]
    const r = parseEntry(entry, i, id !== undefined && named.get(id)! > 1)
    if (r.ok) rollouts.push(r.rollout)
    else rejected.push({ ...(id !== undefined ? { rollout: id } : {}), error: r.error })
  })
  return { ok: true, config: { rollouts }, rejected }
}

function parseEntry(entry: unknown, i: number, duplicate: boolean): { ok: true; rollout: EdgeRollout } | { ok: false; error: string } {
  if (i >= MAX_ROLLOUTS) return { ok: false, error: `rollouts.${i}: past the ${MAX_ROLLOUTS} rollouts the edge accepts` }
  if (duplicate) return { ok: false, error: `rollouts.${i}.id: another entry has the same id` }
  const r = z.safeParse(EdgeRollout, entry)
  if (r.success) return { ok: true, rollout: r.data }
  return { ok: false, error: r.error.issues.map((issue) => `${['rollouts', i, ...issue.path].join('.')}: ${issue.message}`).join('; ') }
}
