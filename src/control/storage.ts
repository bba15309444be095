/**
 * @module
 * The coordinator's storage: its SQLite tables (rollouts, history, series)
 * and every statement that reads or writes them. No decisions here: the
 * coordinator (operations) decides and runs these inside its transactions.
 */
import type { Actor, HistoryEntry, HistoryPage, SeriesPoint } from '../contract/index.ts'
import type { RolloutSpec } from '../core/config/schema.ts'
import type { RolloutState } from '../core/rollout/machine.ts'

/** Points kept per rollout: a week of one-minute windows. */
const SERIES_LIMIT = 7 * 24 * 60

export interface Row {
  spec: RolloutSpec
  state: RolloutState
}

/** What a history entry records besides the move itself. */
export interface EntryOptions {
  actor: Actor
  reason?: string
  data?: Record<string, unknown>
}

export class RolloutStore {
  // Looked up on every call (never bound once), so a fault injected into `exec` in a test takes effect.
  readonly #sql: SqlStorage

  constructor(sql: SqlStorage) {
    this.#sql = sql
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, rollout TEXT NOT NULL, at INTEGER NOT NULL, entry TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS history_by_rollout ON history (rollout, seq);
      CREATE TABLE IF NOT EXISTS series (rollout TEXT NOT NULL, at INTEGER NOT NULL, point TEXT NOT NULL, PRIMARY KEY (rollout, at));
    `)
  }

  rows(): Row[] {
    return this.#sql
      .exec<{ spec: string; state: string }>('SELECT spec, state FROM rollouts ORDER BY id')
      .toArray()
      .map((r) => ({ spec: JSON.parse(r.spec) as RolloutSpec, state: JSON.parse(r.state) as RolloutState }))
  }

  row(id: string): Row | undefined {
    const r = this.#sql.exec<{ spec: string; state: string }>('SELECT spec, state FROM rollouts WHERE id = ?', id).toArray()[0]
    return r && { spec: JSON.parse(r.spec) as RolloutSpec, state: JSON.parse(r.state) as RolloutState }
  }

  count(): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM rollouts').one().n
  }

  save(id: string, spec: RolloutSpec, state: RolloutState): void {
    this.#sql.exec('INSERT OR REPLACE INTO rollouts (id, spec, state) VALUES (?, ?, ?)', id, JSON.stringify(spec), JSON.stringify(state))
  }

  delete(id: string): void {
    this.#sql.exec('DELETE FROM rollouts WHERE id = ?', id)
  }

  /** Appends one history entry: who moved the rollout from which phase, weight and revision to which, and why. */
  record(id: string, now: number, opts: EntryOptions, command: string, from: RolloutState | null, to: RolloutState | null): void {
    const snap = (s: RolloutState | null) => s && { phase: s.phase, weight: s.weight, revision: s.revision }
    const entry: Omit<HistoryEntry, 'seq'> = {
      at: new Date(now).toISOString(),
      rollout: id,
      actor: opts.actor,
      command,
      from: snap(from),
      to: snap(to),
      ...(opts.reason ? { reason: opts.reason } : {}),
      ...(opts.data ? { data: opts.data } : {}),
    }
    this.#sql.exec('INSERT INTO history (rollout, at, entry) VALUES (?, ?, ?)', id, now, JSON.stringify(entry))
  }

  /** Newest first; `before` is the `seq` of the last entry of the previous page. */
  history(id: string, page: { limit: number; before?: number }): HistoryPage {
    const rows = this.#sql
      .exec<{ seq: number; entry: string }>(
        'SELECT seq, entry FROM history WHERE rollout = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
        id,
        page.before ?? Number.MAX_SAFE_INTEGER,
        page.limit + 1,
      )
      .toArray()
    const entries = rows.slice(0, page.limit).map((r) => ({ ...(JSON.parse(r.entry) as Omit<HistoryEntry, 'seq'>), seq: r.seq }))
    return { entries, next: rows.length > page.limit ? entries.at(-1)!.seq : null }
  }

  /** Keeps a judged window for the charts, dropping the oldest past a week of them. */
  addPoint(id: string, point: SeriesPoint): void {
    this.#sql.exec('INSERT OR REPLACE INTO series (rollout, at, point) VALUES (?, ?, ?)', id, point.at, JSON.stringify(point))
    this.#sql.exec(
      'DELETE FROM series WHERE rollout = ? AND at < (SELECT MIN(at) FROM (SELECT at FROM series WHERE rollout = ? ORDER BY at DESC LIMIT ?))',
      id,
      id,
      SERIES_LIMIT,
    )
  }

  /** The last `limit` judged windows, oldest first. */
  series(id: string, limit: number): SeriesPoint[] {
    return this.#sql
      .exec<{ point: string }>('SELECT point FROM series WHERE rollout = ? ORDER BY at DESC LIMIT ?', id, limit)
      .toArray()
      .map((r) => JSON.parse(r.point) as SeriesPoint)
      .reverse()
  }
}
