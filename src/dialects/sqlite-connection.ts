import type { Database } from 'better-sqlite3'
import { StatementFailure, type Connection, type Executor } from '../core/connection.js'
import { MigrationError } from '../errors.js'
import { splitStatements, type SqlSyntax } from '../revisions/split.js'
import type { DrizzleDb } from './dialect.js'
import { loadDrizzleSqlite } from './sqlite-driver.js'
import type { MigrationLock } from './sqlite-lock.js'

export const SQLITE_SYNTAX: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }

const codeOf = (e: unknown) => String((e as { code?: unknown })?.code ?? '')
/** Another connection holds the write lock (SQLITE_BUSY and its extended codes): worth waiting for. */
export const isBusy = (e: unknown) => codeOf(e).startsWith('SQLITE_BUSY') || codeOf(e) === 'SQLITE_LOCKED_SHAREDCACHE'

/**
 * Retries a statement that met another connection's write lock. busy_timeout waits synchronously, so a
 * transaction of this same process could never finish during it: the pauses between attempts let it.
 */
export async function patiently<T>(fn: () => T, attempts = 20): Promise<T> {
  for (let attempt = 1, delay = 50; ; attempt++, delay = Math.min(delay * 2, 1000)) {
    try {
      return fn()
    } catch (e) {
      if (!isBusy(e) || attempt >= attempts) throw e
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

/** `PRAGMA foreign_keys = …`: true for on, false for off, undefined for any other statement. */
export function foreignKeysPragma(statement: string): boolean | undefined {
  const m = /^pragma\s+(?:main\.)?foreign_keys\s*=\s*['"]?(\w+)['"]?\s*$/i.exec(statement)
  if (!m) return undefined
  return /^(on|true|yes|1)$/i.test(m[1]!)
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

/** Per-connection settings a revision may change with a PRAGMA: put back before the next revision runs. */
const SESSION_PRAGMAS = [
  'foreign_keys',
  'recursive_triggers',
  'ignore_check_constraints',
  'legacy_alter_table',
  'reverse_unordered_selects',
  'automatic_index',
  'query_only',
  'defer_foreign_keys',
  'cell_size_check',
  'trusted_schema',
  'temp_store',
  'cache_size',
] as const

function run(db: Database, text: string, params: readonly unknown[]): unknown[] {
  const st = db.prepare(text)
  if (st.reader) return st.all(...params)
  st.run(...params)
  return []
}

/**
 * The migration connection on better-sqlite3. Statements run synchronously on this thread, so nothing can
 * interleave; the lock is a lock file (or, in memory, the connection itself), whose loss `lost()` reports.
 */
export function sqliteConnection(
  db: Database,
  lock: MigrationLock,
  opts: { own: boolean; busyTimeout: number; drizzleDb?: DrizzleDb },
): Connection {
  const settings = new Map(SESSION_PRAGMAS.map((p) => [p, db.pragma(p, { simple: true })]))
  const fkBefore = settings.get('foreign_keys') ? 'ON' : 'OFF'
  const busyBefore = db.pragma('busy_timeout', { simple: true }) as number
  db.pragma(`busy_timeout = ${opts.busyTimeout}`)

  const executor: Executor = {
    // A few patient attempts, then the lock conflict is the algorithm's to retry (and to log).
    query: async (text, params = []) => (await patiently(() => run(db, text, params), 3)) as never[],
    run: async (text) => ({ rows: Number(db.prepare(text).run().changes) }),
    async batch(statements) {
      for (const [i, text] of statements.entries()) {
        // Foreign keys were switched around the transaction: SQLite ignores the pragma inside one.
        if (db.inTransaction && foreignKeysPragma(text) !== undefined) continue
        try {
          db.exec(text)
        } catch (e) {
          throw new StatementFailure(i, e)
        }
      }
    },
  }

  return {
    ...executor,
    whenLost: new Promise<never>(() => undefined),
    async transaction(work, { statements }) {
      // A table rebuild with foreign keys off: off before BEGIN (a DROP TABLE with them on would cascade-delete
      // the children), foreign_key_check before COMMIT, and the connection's setting back afterwards.
      const fkOff = statements.some((s) => foreignKeysPragma(s) === false)
      try {
        if (fkOff) db.pragma('foreign_keys = OFF')
        // Not db.transaction(): it cannot wrap the asynchronous work of a function revision.
        db.exec('BEGIN IMMEDIATE')
        try {
          const before = fkOff ? violations(db) : undefined
          const result = await work(executor)
          const added = before ? newViolations(before, violations(db)) : []
          if (added.length)
            throw new StatementFailure(
              statements.map((s) => foreignKeysPragma(s) === true).lastIndexOf(true),
              new Error(`PRAGMA foreign_key_check found rows that violate foreign keys after the revision ran with them off: ${added.join('; ')}`),
            )
          db.exec('COMMIT')
          return result
        } catch (e) {
          if (db.inTransaction) db.exec('ROLLBACK')
          throw e
        }
      } finally {
        if (fkOff && !db.inTransaction) db.pragma(`foreign_keys = ${fkBefore}`)
      }
    },
    async context(tx) {
      return {
        sql: db,
        // A drizzle database on the migration connection: its queries are part of the revision's transaction.
        db: opts.drizzleDb
          ? (await loadDrizzleSqlite()).drizzle(db, {
              schema: opts.drizzleDb.fullSchema,
            })
          : undefined,
        async exec(text: string) {
          for (const st of splitStatements(text, SQLITE_SYNTAX)) {
            if (tx && foreignKeysPragma(st.text) !== undefined)
              throw new MigrationError(
                'INVALID_REVISION',
                `"${st.text}" has no effect inside the revision's transaction (SQLite ignores it there). ` +
                  'Put the statements in a SQL revision, which switches foreign keys off around its transaction, or set transaction = false and manage the transaction yourself.',
              )
            db.exec(st.text)
          }
        },
        query: async <Row>(text: string, params: unknown[] = []) => run(db, text, params) as Row[],
      }
    },
    async setLockTimeout(ms) {
      db.pragma(`busy_timeout = ${Math.max(0, Math.round(ms))}`)
    },
    tryLock: () => lock.tryLock(),
    lockHolder: () => lock.holder(),
    // SQLite does not say which connection holds the write lock.
    blockers: async () => [],
    leftovers: async () => [],
    async reset() {
      if (db.inTransaction) db.exec('ROLLBACK')
      for (const [p, v] of settings) if (db.pragma(p, { simple: true }) !== v) db.pragma(`${p} = ${Number(v)}`)
      db.pragma(`busy_timeout = ${opts.busyTimeout}`)
    },
    // better-sqlite3 runs a statement to its end on this thread: a stop takes effect between statements.
    cancel: () => undefined,
    lost: () => lock.lost(),
    async close() {
      try {
        await lock.release()
      } finally {
        if (opts.own) db.close()
        else if (db.open) db.pragma(`busy_timeout = ${busyBefore}`)
      }
    },
    async destroy() {
      if (db.open && db.inTransaction) db.exec('ROLLBACK')
      await this.close()
    },
  }
}
