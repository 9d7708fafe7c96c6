import { performance } from 'node:perf_hooks'
import type { Database } from 'better-sqlite3'
import { MigrationError } from '../errors.js'
import { revisionFailure } from '../failure.js'
import { downSql, label, stepOf, type Revision } from '../revisions/revision.js'
import { splitStatements, type SqlSyntax, type Statement } from '../revisions/split.js'
import type { MigrationContext } from '../types.js'
import type { ApplyHooks, Direction, DrizzleConfig } from './dialect.js'
import { loadDriver } from './driver.js'

export const SQLITE_SYNTAX: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }

/** What applying needs from the session. */
export interface ApplyTarget {
  db: Database
  /** The quoted history table. */
  table: string
  display: string
  instanceId: string
  /** Throws when the migration lock is no longer ours. */
  alive(): void
  /** drizzle's history table, written alongside ours with keepHistory; and the drizzle `db` for function revisions. */
  drizzle?: DrizzleConfig
}

/** With keepHistory, drizzle's table follows ours in the same transaction (idempotent, so adoption can repeat it). */
function recordForDrizzle(t: ApplyTarget, rev: Revision, direction: Direction) {
  if (!t.drizzle?.keepHistory || !rev.drizzle) return
  const table = `"${t.drizzle.table.replace(/"/g, '""')}"`
  const { hash, when, name } = rev.drizzle
  if (direction === 'down') t.db.prepare(`delete from ${table} where hash = ? and created_at = ?`).run(hash, when)
  else if (name) t.db.prepare(`insert into ${table} (hash, created_at, name) select ?, ?, ? where not exists (select 1 from ${table} where name = ?)`).run(hash, when, name, name)
  else t.db.prepare(`insert into ${table} (hash, created_at) select ?, ? where not exists (select 1 from ${table} where hash = ? and created_at = ?)`).run(hash, when, hash, when)
}

/** `PRAGMA foreign_keys = …`: true for on, false for off, undefined for any other statement. */
export function foreignKeysPragma(statement: string): boolean | undefined {
  const m = /^pragma\s+(?:main\.)?foreign_keys\s*=\s*['"]?(\w+)['"]?\s*$/i.exec(statement)
  if (!m) return undefined
  return /^(on|true|yes|1)$/i.test(m[1]!)
}

/** The connection's foreign_keys setting, put back when the returned function is called. */
function keepForeignKeys(db: Database): () => void {
  const before = db.pragma('foreign_keys', { simple: true }) ? 'ON' : 'OFF'
  return () => {
    if (!db.inTransaction) db.pragma(`foreign_keys = ${before}`)
  }
}

/** Rows that break a foreign key, counted per child and parent table. */
function violations(db: Database): Map<string, number> {
  const rows = db.prepare('PRAGMA foreign_key_check').all() as Array<{ table: string; parent: string }>
  const out = new Map<string, number>()
  for (const r of rows) {
    const key = `${r.table}\u0000${r.parent}`
    out.set(key, (out.get(key) ?? 0) + 1)
  }
  return out
}

/** Violations the revisions added: ones that were there before (an app that ran without foreign keys) do not count. */
function newViolations(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = []
  for (const [key, n] of after) {
    const added = n - (before.get(key) ?? 0)
    if (added <= 0) continue
    const [child, parent] = key.split('\u0000') as [string, string]
    out.push(`${added} row${added > 1 ? 's' : ''} in "${child}" reference${added > 1 ? '' : 's'} missing rows in "${parent}"`)
  }
  return out
}

/** What another process did to a revision while this one believed it held the lock. */
const doneElsewhere = (t: ApplyTarget, rev: Revision, direction: Direction) =>
  new MigrationError(
    'MIGRATION_FAILED',
    `Revision ${label(rev)} was ${direction === 'up' ? 'applied' : 'reverted'} by another process while this one was migrating ${t.display}: ` +
      'the migration lock was taken over (a lock file not refreshed for lockStale ms counts as abandoned, e.g. when a process is paused that long). ' +
      `Nothing was run twice. Run again: the next run finds the revision ${direction === 'up' ? 'applied' : 'reverted'}.`,
    { revision: rev.id, file: rev.source },
  )

const statementsOf = (rev: Revision, direction: Direction) => {
  const step = stepOf(rev, direction)
  return step.kind === 'sql' ? step.statements : []
}

/**
 * The revisions and their history rows in one `BEGIN IMMEDIATE` transaction (down: the down steps, rows deleted).
 * A revision holding `PRAGMA foreign_keys = OFF` (a table rebuild) gets foreign keys switched off before BEGIN
 * (SQLite ignores the pragma inside a transaction, and a DROP TABLE with them on would cascade-delete the
 * children), `PRAGMA foreign_key_check` before COMMIT, and the connection's setting back afterwards.
 */
export async function applyInTransaction(t: ApplyTarget, revisions: Revision[], hooks: ApplyHooks, direction: Direction = 'up'): Promise<number[]> {
  const { db } = t
  t.alive()
  const fkOff = revisions.filter((r) => statementsOf(r, direction).some((s) => foreignKeysPragma(s.text) === false))
  const restore = fkOff.length ? keepForeignKeys(db) : undefined
  let current = revisions[0]!
  let statement: Statement | undefined
  try {
    if (restore) db.pragma('foreign_keys = OFF')
    try {
      db.exec('BEGIN IMMEDIATE')
    } catch (e) {
      throw revisionFailure(current, e, 'nothing-applied')
    }
    const record =
      direction === 'up'
        ? db.prepare(`insert into ${t.table} (id, name, checksum, state, applied_by, down_sql, duration_ms) values (?, ?, ?, 'applied', ?, ?, ?)`)
        : db.prepare(`delete from ${t.table} where id = ?`)
    // Under BEGIN IMMEDIATE no other writer can commit: the history read now is final.
    const ids = revisions.map((r) => r.id)
    const recorded = new Set(db.prepare(`select id from ${t.table} where id in (${ids.map(() => '?').join(', ')})`).pluck().all(...ids) as string[])
    const moved = revisions.find((r) => recorded.has(r.id) === (direction === 'up'))
    if (moved) throw doneElsewhere(t, moved, direction)
    const before = restore ? violations(db) : undefined
    const durations: number[] = []
    for (const rev of revisions) {
      current = rev
      hooks.started(rev)
      const started = performance.now()
      const step = stepOf(rev, direction)
      if (step.kind === 'sql') {
        for (const st of step.statements) {
          if (foreignKeysPragma(st.text) !== undefined) continue
          statement = st
          db.exec(st.text)
        }
        statement = undefined
      } else {
        await step.fn(await sqliteContext(rev, db, hooks, t.drizzle))
      }
      const duration = Math.round(performance.now() - started)
      if (direction === 'up') record.run(rev.id, rev.name, rev.checksum, t.instanceId, downSql(rev), duration)
      else record.run(rev.id)
      recordForDrizzle(t, rev, direction)
      durations.push(duration)
    }
    if (before) {
      const added = newViolations(before, violations(db))
      if (added.length) {
        const rev = fkOff[fkOff.length - 1]!
        const on = statementsOf(rev, direction).find((s) => foreignKeysPragma(s.text) === true)
        throw revisionFailure(
          rev,
          new Error(`PRAGMA foreign_key_check found rows that violate foreign keys after the revision ran with them off: ${added.join('; ')}`),
          'rolled-back',
          on,
        )
      }
    }
    t.alive()
    db.exec('COMMIT')
    return durations
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw e instanceof MigrationError ? e : revisionFailure(current, e, 'rolled-back', statement)
  } finally {
    restore?.()
  }
}

/** A revision outside a transaction, its history row `running` meanwhile: `applied` after up, deleted after down. */
export async function applyOutsideTransaction(t: ApplyTarget, rev: Revision, hooks: ApplyHooks, direction: Direction = 'up'): Promise<number> {
  const { db } = t
  t.alive()
  hooks.started(rev)
  const started = performance.now()
  const step = stepOf(rev, direction)
  if (direction === 'up') {
    try {
      db.prepare(`insert into ${t.table} (id, name, checksum, state, applied_by, down_sql) values (?, ?, ?, 'running', ?, ?)`).run(
        rev.id,
        rev.name,
        rev.checksum,
        t.instanceId,
        downSql(rev),
      )
    } catch (e) {
      if (String((e as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT')) throw doneElsewhere(t, rev, direction)
      throw revisionFailure(rev, e, 'nothing-applied')
    }
  } else if (db.prepare(`update ${t.table} set state = 'running' where id = ? and state = 'applied'`).run(rev.id).changes === 0) {
    throw doneElsewhere(t, rev, direction)
  }
  // A single statement is atomic in SQLite: when the first one fails, nothing of the revision ran.
  let failed: { error: unknown; clean: boolean; st?: Statement } | undefined
  const restore = keepForeignKeys(db)
  try {
    if (step.kind === 'sql') {
      for (const [i, st] of step.statements.entries()) {
        try {
          db.exec(st.text)
        } catch (e) {
          failed = { error: e, clean: i === 0, st }
          break
        }
      }
    } else {
      try {
        await step.fn(await sqliteContext(rev, db, hooks, t.drizzle))
      } catch (e) {
        failed = { error: e, clean: false }
      }
    }
    // A revision that manages its own transaction must end it; one left open would swallow the history update.
    if (db.inTransaction) {
      db.exec('ROLLBACK')
      failed ??= { error: new Error('it left a transaction open (BEGIN without COMMIT); that transaction was rolled back'), clean: false }
    }
  } finally {
    restore()
  }
  if (failed) {
    if (failed.clean)
      db.prepare(
        direction === 'up' ? `delete from ${t.table} where id = ? and state = 'running'` : `update ${t.table} set state = 'applied' where id = ?`,
      ).run(rev.id)
    throw revisionFailure(rev, failed.error, failed.clean ? 'nothing-applied' : 'dirty', failed.st)
  }
  const duration = Math.round(performance.now() - started)
  if (direction === 'up')
    db.prepare(`update ${t.table} set state = 'applied', applied_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), duration_ms = ? where id = ?`).run(duration, rev.id)
  else db.prepare(`delete from ${t.table} where id = ?`).run(rev.id)
  recordForDrizzle(t, rev, direction)
  return duration
}

/** What a JS revision receives: the migration connection itself, since better-sqlite3 has no separate transaction object. */
export async function sqliteContext(rev: Revision, db: Database, hooks: ApplyHooks, drizzle?: DrizzleConfig): Promise<MigrationContext<Database>> {
  return {
    sql: db,
    // A drizzle database on the migration connection: its queries are part of the revision's transaction.
    db: drizzle?.db
      ? (await loadDriver<{ drizzle(c: Database, o: object): unknown }>('drizzle-orm/better-sqlite3', 'drizzle-orm')).drizzle(db, { schema: drizzle.db.fullSchema })
      : undefined,
    dialect: 'sqlite',
    revision: { id: rev.id, name: rev.name },
    async exec(text) {
      for (const st of splitStatements(text, SQLITE_SYNTAX)) {
        if (db.inTransaction && foreignKeysPragma(st.text) !== undefined)
          throw new MigrationError(
            'INVALID_REVISION',
            `${rev.source}: "${st.text}" has no effect inside the revision's transaction (SQLite ignores it there). ` +
              'Put the statements in a SQL revision, which switches foreign keys off around its transaction, or set transaction = false and manage the transaction yourself.',
            { revision: rev.id, file: rev.source },
          )
        db.exec(st.text)
      }
    },
    async query<Row>(text: string, params: unknown[] = []) {
      const st = db.prepare(text)
      if (st.reader) return st.all(...params) as Row[]
      st.run(...params)
      return []
    },
    log: hooks.log(rev),
    signal: hooks.signal,
  }
}
