import { createHash } from 'node:crypto'
import type { HistoryEntry, HistoryRow } from '../plan.js'
import type { Revision } from '../revisions/revision.js'
import { downSql } from '../revisions/revision.js'
import { MigrationError, messageOf } from '../errors.js'
import type { Connection, ErrorKind, Executor } from './connection.js'

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
  /** The progress table of no-transaction revisions (`<table>_progress`), quoted like `table`. */
  progress: string
  /**
   * Whether a data-modifying WITH may lead a statement (PostgreSQL): a history write and the clearing of
   * the revision's progress are then one statement; elsewhere they share a transaction.
   */
  writableCte?: boolean
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
    /** Parameters in the order they appear (SQLite's are positional). Also takes the file's checksum and down script: a resumed revision may have had its unapplied part fixed. */
    finish: `update ${t} set state = 'applied', applied_at = ${s.now}, duration_ms = ${p(1)}, checksum = ${p(2)}, down_sql = ${p(3)} where id = ${p(4)} and state = 'running'`,
    markRunning: `update ${t} set state = 'running' where id = ${p(1)} and state = 'applied'`,
    markApplied: `update ${t} set state = 'applied' where id = ${p(1)} and state = 'running'`,
    remove: `delete from ${t} where id = ${p(1)}`,
    removeRunning: `delete from ${t} where id = ${p(1)} and state = 'running'`,
    /**
     * Per-statement progress of a no-transaction revision, in a table of its own: created under the lock
     * before the first such revision runs (databases that never run one never get it), read only on the
     * dirty path, so the fast path stays one query on the history.
     */
    progress: {
      table: s.progress,
      create: `create table if not exists ${s.progress} (
        id varchar(255) not null,
        step integer not null,
        hash varchar(64) not null,
        before_schema varchar(64),
        primary key (id, step)
      )`,
      /**
       * Step 0 with hash "down" marks a revision being reverted; steps 1.. are its statements. A row with `before_schema`
       * was written before its statement ran (see `intend`): the statement completed if a later row exists.
       */
      read: `select step, hash, before_schema from ${s.progress} where id = ${p(1)} order by step`,
      /** The same, on a progress table made before `before_schema` existed. */
      readOld: `select step, hash, null as before_schema from ${s.progress} where id = ${p(1)} order by step`,
      add: `insert into ${s.progress} (id, step, hash) values (${p(1)}, ${p(2)}, ${p(3)})`,
      /** Before a statement that commits implicitly runs: its hash and the schema's digest, so a crash during it can be settled. */
      intend: `insert into ${s.progress} (id, step, hash, before_schema) values (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`,
      /** A statement found not to have completed: its row goes before it runs again. */
      forget: `delete from ${s.progress} where id = ${p(1)} and step = ${p(2)}`,
      clear: `delete from ${s.progress} where id = ${p(1)}`,
      /** `statement` (whose n-th parameter is the revision id) with the clearing in front, where it can be one statement. */
      clearing: (statement: string, idParam: number) => (s.writableCte ? `with cleared as (delete from ${s.progress} where id = ${p(idParam)}) ${statement}` : undefined),
    },
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

/** A short hash of a statement's text, recorded as it completes: sha256, 16 hex digits. */
export const statementHash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16)

export const DOWN_MARK = 'down'

/**
 * A function revision's ctx.batch calls in the progress table: step k is its k-th call, the hash `batch:<batches>:<rows>`,
 * rewritten in the transaction of each batch, so after a crash it says exactly how far the call got.
 */
export const batchMark = (batches: number, rows: number) => `batch:${batches}:${rows}`

/** The last ctx.batch call a progress records: its number, and the batches and rows it had committed. */
export function batchOf(p: Progress | null | undefined): { call: number; batches: number; rows: number } | undefined {
  const hashes = p?.hashes ?? []
  for (let i = hashes.length - 1; i >= 0; i--) {
    const m = /^batch:(\d+):(\d+)$/.exec(hashes[i]!)
    if (m) return { call: i + 1, batches: Number(m[1]), rows: Number(m[2]) }
  }
  return undefined
}

/**
 * What the progress table says about a revision: the direction it ran in and the hashes of its completed statements, in
 * order; `started` is the statement after them when it was recorded as starting (with the schema's digest before it),
 * so whether it completed is for the schema to say.
 */
export interface Progress {
  direction: 'up' | 'down'
  hashes: string[]
  started?: { step: number; hash: string; before: string }
}

/** The progress of a dirty revision; null when there is no progress table (a database of an earlier version, or none ever made). */
export async function readProgress(on: Executor, d: HistoryReader, id: string): Promise<Progress | null> {
  let rows: Array<{ step: unknown; hash: unknown; before_schema: unknown }>
  try {
    type Row = { step: unknown; hash: unknown; before_schema: unknown }
    rows = await on.query<Row>(d.history.progress.read, [id]).catch((e: unknown) =>
      /before_schema/.test(messageOf(e)) ? on.query<Row>(d.history.progress.readOld, [id]) : Promise.reject(e),
    )
  } catch (e) {
    if (d.classify(e) === 'missing-table') return null
    throw e
  }
  const direction = rows.some((r) => Number(r.step) === 0 && r.hash === DOWN_MARK) ? 'down' : 'up'
  const steps = rows.filter((r) => Number(r.step) > 0)
  const last = steps.at(-1)
  // A row written before its statement ran, with none after it: the statement may or may not have completed.
  const open = last && last.before_schema !== null && last.before_schema !== undefined ? last : undefined
  return {
    direction,
    hashes: (open ? steps.slice(0, -1) : steps).map((r) => String(r.hash)),
    ...(open ? { started: { step: Number(open.step), hash: String(open.hash), before: String(open.before_schema) } } : {}),
  }
}

/**
 * Runs a history write together with the clearing of the revision's progress: one statement where the dialect
 * allows it, else one transaction. `idParam` is the position of the revision id among `params`.
 */
export async function writeClearing(conn: Connection, d: HistoryReader, statement: string, params: unknown[], idParam: number, lockTimeout: number) {
  const one = d.history.progress.clearing(statement, idParam)
  if (one) return void (await conn.query(one, params))
  await conn.transaction(
    async (tx) => {
      await tx.query(d.history.progress.clear, [params[idParam - 1]])
      await tx.query(statement, params)
    },
    { lockTimeout, statements: [] },
  )
}

/**
 * Whether the statement a revision's progress records as started completed: true when the schema changed since its
 * digest was taken, false when it did not; undefined when the dialect cannot tell (or nothing is started).
 */
export async function settleStarted(
  on: Executor,
  d: { schemaDigest?(on: Executor, statement: string): Promise<string | undefined> },
  p: Progress,
  statements: ReadonlyArray<{ text: string }>,
): Promise<boolean | undefined> {
  // The digest covers what the statement names: the file's statement, only if it is the one that started.
  const st = p.started && statements[p.started.step - 1]
  if (!p.started || !d.schemaDigest || !st || statementHash(st.text) !== p.started.hash) return undefined
  const now = await d.schemaDigest(on, st.text)
  return now === undefined ? undefined : now !== p.started.before
}
