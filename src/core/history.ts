import type { HistoryEntry, HistoryRow } from '../plan.js'
import type { Revision } from '../revisions/revision.js'
import { downSql } from '../revisions/revision.js'
import { MigrationError, messageOf } from '../errors.js'
import type { ErrorKind, Executor } from './connection.js'

/** How a dialect spells what the history statements need. */
export interface HistorySyntax {
  /** The history table, quoted (and schema-qualified where the dialect has schemas). */
  table: string
  /** The n-th (1-based) bind parameter. */
  param(n: number): string
  timestamp: string
  now: string
  /** Statements to run before the table is created (the schema). */
  prelude: string[]
  /**
   * Milliseconds since the current transaction began, where the database can say it: the history row is
   * then sent together with the revision's statements instead of after them (one round trip less).
   */
  elapsed?: string
}

/** The history statements, written once for every dialect. */
export function historyStatements(s: HistorySyntax) {
  const t = s.table
  const p = s.param
  return {
    /** The table as a person writes it: `public.boot_migrate_history`. */
    name: t.replace(/"((?:[^"]|"")*)"/g, (_, n: string) => n.replace(/""/g, '"')),
    create: [
      ...s.prelude,
      `create table if not exists ${t} (
        id varchar(255) primary key,
        name text not null,
        checksum text,
        state varchar(16) not null default 'applied' check (state in ('running', 'applied')),
        applied_at ${s.timestamp} not null default ${s.now},
        duration_ms integer,
        applied_by text not null,
        down_sql text
      )`,
    ],
    rows: `select id, checksum, state from ${t}`,
    // Aliases without underscores: an app client with a column transform (postgres.camel) reads them as they are.
    details: `select id, name, checksum, state, applied_at as appliedat, duration_ms as durationms, applied_by as appliedby, down_sql as downsql from ${t} order by applied_at, id`,
    insert: `insert into ${t} (id, name, checksum, state, applied_by, down_sql, duration_ms) values (${[1, 2, 3, 4, 5, 6, 7].map(p).join(', ')})`,
    /** The row of a revision that is its transaction's only one, its duration measured by the database. */
    insertTimed: s.elapsed && `insert into ${t} (id, name, checksum, state, applied_by, down_sql, duration_ms) values (${[1, 2, 3, 4, 5, 6].map(p).join(', ')}, ${s.elapsed})`,
    finish: `update ${t} set state = 'applied', applied_at = ${s.now}, duration_ms = ${p(1)} where id = ${p(2)} and state = 'running'`,
    markRunning: `update ${t} set state = 'running' where id = ${p(1)} and state = 'applied'`,
    markApplied: `update ${t} set state = 'applied' where id = ${p(1)} and state = 'running'`,
    remove: `delete from ${t} where id = ${p(1)}`,
    removeRunning: `delete from ${t} where id = ${p(1)} and state = 'running'`,
  }
}

export type HistoryStatements = ReturnType<typeof historyStatements>

/** The history row values of a revision, in the order of `insert`. */
export const rowValues = (rev: Revision, state: 'running' | 'applied', by: string, durationMs: number | null) => [
  rev.id,
  rev.name,
  rev.checksum,
  state,
  by,
  downSql(rev),
  durationMs,
]

/** What reading the history needs from a dialect. */
export interface HistoryReader {
  history: HistoryStatements
  classify(e: unknown): ErrorKind
}

/**
 * A table of that name that another tool made: reading it fails on a column we need. Only looked at once a
 * read failed, so the no-op boot stays one query.
 */
function foreign(e: unknown, d: HistoryReader): MigrationError | undefined {
  const message = messageOf(e)
  // PostgreSQL's undefined_column (42703) in any language of lc_messages; SQLite's "no such column".
  const column =
    (/\bcolumn "([^"]+)" does not exist/i.exec(message) ?? /^no such column: (\S+)/i.exec(message))?.[1] ??
    ((e as { code?: unknown } | null)?.code === '42703' ? /"([^"]+)"/.exec(message)?.[1] ?? '?' : undefined)
  if (column === undefined) return undefined
  return new MigrationError(
    'INVALID_OPTIONS',
    `"${d.history.name}" exists but is not a boot-migrate history (no column "${column.replace(/^.*\./, '')}"): ` +
      'pass another "table" (or "schema"), or rename that table if nothing else uses it. Nothing was changed.',
    { cause: e },
  )
}

/** The fast path's rows: one query; null when the table does not exist. */
export async function readRows(on: Executor, d: HistoryReader): Promise<HistoryRow[] | null> {
  try {
    return (await on.query<HistoryRow>(d.history.rows)).map((r) => ({ id: String(r.id), checksum: r.checksum ?? null, state: r.state }))
  } catch (e) {
    if (d.classify(e) === 'missing-table') return null
    throw foreign(e, d) ?? e
  }
}

/** Every row with all its columns, oldest first; [] when the table does not exist. */
export async function readEntries(on: Executor, d: HistoryReader): Promise<HistoryEntry[]> {
  let rows: Array<Record<string, unknown>>
  try {
    rows = await on.query(d.history.details)
  } catch (e) {
    if (d.classify(e) === 'missing-table') return []
    throw foreign(e, d) ?? e
  }
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    checksum: (r.checksum as string | null) ?? null,
    state: r.state as HistoryRow['state'],
    appliedAt: new Date(r.appliedat as string | Date),
    durationMs: r.durationms === null || r.durationms === undefined ? null : Number(r.durationms),
    appliedBy: String(r.appliedby),
    downSql: (r.downsql as string | null) ?? null,
  }))
}
