import { accessSync, constants, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import type { Database } from 'better-sqlite3'
import { MigrationError, messageOf } from '../errors.js'
import type { HistoryEntry, HistoryRow } from '../plan.js'
import type { Dialect, DialectConfig, Session } from './dialect.js'
import { loadDriver } from './driver.js'
import { applyInTransaction, applyOutsideTransaction, SQLITE_SYNTAX, type ApplyTarget } from './sqlite-apply.js'
import { fileLock, memoryLock, type LockOwner, type MigrationLock } from './sqlite-lock.js'
import { sqliteSchemaSnapshot } from './sqlite-schema.js'
import { sqliteScript } from './sqlite-script.js'
import type { SqliteFile } from './sqlite-url.js'

type Driver = typeof BetterSqlite3
type SqliteError = Error & { code?: string }

const NON_TRANSACTIONAL: Array<[RegExp, string]> = [
  [/^vacuum\b/i, 'VACUUM'],
  // SQLite refuses these inside a transaction, or accepts them and silently does nothing.
  [/^pragma\s+(\w+\.)?journal_mode\s*=/i, 'PRAGMA journal_mode'],
  [/^pragma\s+(\w+\.)?synchronous\s*=/i, 'PRAGMA synchronous'],
  [/^pragma\s+(\w+\.)?page_size\s*=/i, 'PRAGMA page_size'],
  [/^pragma\s+(\w+\.)?auto_vacuum\s*=/i, 'PRAGMA auto_vacuum'],
  [/^pragma\s+(\w+\.)?wal_checkpoint\b/i, 'PRAGMA wal_checkpoint'],
]

export const DEFAULT_LOCK_STALE = 10_000

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`
const codeOf = (e: unknown) => String((e as SqliteError)?.code ?? '')
/** Another connection holds the write lock (SQLITE_BUSY and its extended codes): worth waiting for. */
const isBusy = (e: unknown) => codeOf(e).startsWith('SQLITE_BUSY') || codeOf(e) === 'SQLITE_LOCKED_SHAREDCACHE'

/**
 * Retries a statement that met another connection's write lock. busy_timeout waits synchronously, so a
 * transaction of this same process could never finish during it: the pauses between attempts let it.
 */
async function patiently<T>(fn: () => T): Promise<T> {
  for (let attempt = 1, delay = 50; ; attempt++, delay = Math.min(delay * 2, 1000)) {
    try {
      return fn()
    } catch (e) {
      if (!isBusy(e) || attempt >= 20) throw e
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }
}

/**
 * SQLite through better-sqlite3. `target.file` is a database we open (and close); `target.client` one the
 * app passed (never closed). `schema` is ignored: a SQLite file has one namespace for the history table.
 */
export async function sqliteDialect(
  target: { file?: SqliteFile; client?: Database; migrationFile?: SqliteFile },
  config: DialectConfig,
): Promise<Dialect> {
  const lockStale = config.lockStale ?? DEFAULT_LOCK_STALE
  const table = quoteIdent(config.table)
  const client = target.client
  // A temporary database (empty name) is private to its connection, like :memory:.
  const fileOf = (db: Database): SqliteFile => {
    const memory = db.memory || !db.name
    return { path: memory ? ':memory:' : resolve(db.name), memory, readonly: db.readonly }
  }
  const main: { db: Database; file: SqliteFile; own: boolean } = client
    ? { db: client, file: fileOf(client), own: false }
    : { db: open(await loadDriver<Driver>('better-sqlite3', 'SQLite'), target.file!, config), file: target.file!, own: true }
  const display = describe(main.file)

  const readRows = (db: Database): HistoryRow[] | null => {
    try {
      return db.prepare(`select id, checksum, state from ${table}`).all() as HistoryRow[]
    } catch (e) {
      if (/^no such table\b/i.test(messageOf(e))) return null
      throw e
    }
  }

  const historyDdl = `create table if not exists ${table} (
    id text primary key,
    name text not null,
    checksum text,
    state text not null default 'applied' check (state in ('running', 'applied')),
    applied_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    duration_ms integer,
    applied_by text not null,
    down_sql text
  )`

  const drizzleTable = quoteIdent(config.drizzle?.table ?? '__drizzle_migrations')
  // drizzle's own DDL for its SQLite table.
  const drizzleDdl = `create table if not exists ${drizzleTable} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`

  return {
    name: 'sqlite',
    syntax: SQLITE_SYNTAX,
    display,
    async readDetails(): Promise<HistoryEntry[]> {
      let rows: Array<Record<string, string | number | null>>
      try {
        rows = main.db.prepare(`select id, name, checksum, state, applied_at, duration_ms, applied_by, down_sql from ${table} order by applied_at, id`).all() as typeof rows
      } catch (e) {
        if (/^no such table\b/i.test(messageOf(e))) return []
        throw e
      }
      return rows.map((r) => ({
        id: String(r.id),
        name: String(r.name),
        checksum: (r.checksum as string | null) ?? null,
        state: r.state as HistoryRow['state'],
        appliedAt: new Date(String(r.applied_at)),
        durationMs: (r.duration_ms as number | null) ?? null,
        appliedBy: String(r.applied_by),
        downSql: (r.down_sql as string | null) ?? null,
      }))
    },
    schemaSnapshot: async () => sqliteSchemaSnapshot(main.db, config.table),
    script: (work) => sqliteScript(work, table, historyDdl, `boot-migrate script for ${display}`),
    nonTransactional: (s) => NON_TRANSACTIONAL.find(([re]) => re.test(s))?.[1],
    readHistory: async () => readRows(main.db) ?? [],
    isTransient: isBusy,
    async openSession() {
      const session = await connectSession()
      const owner: LockOwner = { instanceId: config.instanceId, pid: process.pid, host: hostname() }
      const { db, file } = session
      let lock: MigrationLock
      let busyBefore: number
      try {
        lock = file.memory ? memoryLock(db, owner) : await fileLock(file.path, { stale: lockStale, owner, display: describe(file) })
        // How long BEGIN IMMEDIATE and COMMIT wait for the app's connections; past it, SQLITE_BUSY and the migrator retries.
        busyBefore = db.pragma('busy_timeout', { simple: true }) as number
        db.pragma(`busy_timeout = ${Math.max(0, Math.round(config.ddlLockTimeout))}`)
      } catch (e) {
        if (session.own) db.close()
        throw e
      }
      const applyTarget: ApplyTarget = {
        db,
        table,
        display: describe(file),
        instanceId: config.instanceId,
        ...(config.drizzle ? { drizzle: config.drizzle } : {}),
        alive() {
          const why = lock.lost()
          if (why)
            throw new MigrationError(
              'MIGRATION_FAILED',
              `The migration lock on ${describe(file)} was lost (${why}): another process may be migrating. Stopped before doing more; the current revision was rolled back.`,
            )
        },
      }
      const result: Session = {
        tryLock: () => lock.tryLock(),
        lockHolder: () => lock.holder(),
        readHistory: () => patiently(() => readRows(db)),
        async createHistory() {
          await patiently(() => db.exec(historyDdl))
          if (config.drizzle?.keepHistory) await patiently(() => db.exec(drizzleDdl))
        },
        async readDrizzleHistory() {
          try {
            const rows = db.prepare(`select * from ${drizzleTable}`).all() as Array<{ hash: string; created_at: number | string | null; name?: string | null }>
            return rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at), name: r.name ?? null }))
          } catch (e) {
            if (/^no such table\b/i.test(messageOf(e))) return null
            throw e
          }
        },
        applyInTransaction: (revisions, hooks, direction) => applyInTransaction(applyTarget, revisions, hooks, direction),
        applyOutsideTransaction: (revision, hooks, direction) => applyOutsideTransaction(applyTarget, revision, hooks, direction),
        isLockConflict: (e) => isBusy((e as { cause?: unknown })?.cause ?? e),
        // SQLite does not say which connection holds the write lock.
        blockers: async () => [],
        leftovers: async () => [],
        async resolve(id, outcome) {
          const st =
            outcome === 'applied'
              ? db.prepare(`update ${table} set state = 'applied' where id = ? and state = 'running'`)
              : db.prepare(`delete from ${table} where id = ? and state = 'running'`)
          return (await patiently(() => st.run(id))).changes > 0
        },
        // No cancel(): better-sqlite3 runs a statement to its end on this thread, so a stop takes effect between revisions.
        async release() {
          try {
            await lock.release()
          } finally {
            if (session.own) db.close()
            else if (db.open) db.pragma(`busy_timeout = ${busyBefore}`)
          }
        },
      }
      return result
    },
    async close() {
      if (main.own) main.db.close()
    },
  }

  /**
   * The connection that migrates. A file client gets a connection of its own, so that the app's queries on
   * its client, which go on during a background migration, never land inside a revision's transaction;
   * they wait on their busy_timeout instead. An in-memory client is the database, so it is used as it is.
   */
  async function connectSession(): Promise<{ db: Database; file: SqliteFile; own: boolean }> {
    const file = target.migrationFile ?? main.file
    writable(file, main.db, !!target.migrationFile)
    if (!target.migrationFile && (main.own || file.memory)) return { db: main.db, file, own: false }
    const driver = (client?.constructor as Driver | undefined) ?? (await loadDriver<Driver>('better-sqlite3', 'SQLite'))
    return { db: open(driver, file, config), file, own: true }
  }
}

const describe = (f: SqliteFile) => `sqlite:${f.path}`

/** Opens a database file, creating its folder as SQLite creates the file itself. */
function open(Driver: Driver, file: SqliteFile, config: DialectConfig): Database {
  if (!file.memory && !file.readonly) {
    try {
      mkdirSync(dirname(file.path), { recursive: true })
    } catch (e) {
      throw new MigrationError('DATABASE_UNREACHABLE', `Cannot create the folder of ${describe(file)}: ${messageOf(e)}`, { cause: e })
    }
  }
  try {
    return new Driver(file.path, { readonly: file.readonly, fileMustExist: file.readonly, timeout: Math.max(config.ddlLockTimeout, 5000) })
  } catch (e) {
    const why = file.readonly && codeOf(e) === 'SQLITE_CANTOPEN' ? 'the file does not exist (and mode=ro does not create it)' : messageOf(e)
    throw new MigrationError('DATABASE_UNREACHABLE', `Cannot open ${describe(file)}: ${why}`, { cause: e })
  }
}

/**
 * Refuses to start a migration on a database that cannot be written, before the lock and before any
 * statement, so a read-only file never ends up half-migrated.
 */
function writable(file: SqliteFile, db: Database, dedicated: boolean) {
  const fail = (why: string, fix: string) => {
    throw new MigrationError('MIGRATION_FAILED', `Cannot migrate ${describe(file)}: ${why}. Nothing was applied. ${fix}`)
  }
  if (!dedicated && db.readonly)
    fail(
      'it is open read-only (mode=ro, or a client opened with { readonly: true })',
      'Migrate with a writable connection (migrationUrl: "sqlite:…"), or from a process that may write the file.',
    )
  if (file.memory || file.readonly) {
    if (file.readonly) fail('migrationUrl opens it read-only (mode=ro)', 'Drop mode=ro from migrationUrl.')
    return
  }
  for (const [path, what] of [
    [file.path, 'the file'],
    [dirname(file.path), 'its folder (SQLite writes its journal there, boot-migrate its lock)'],
  ] as const) {
    try {
      accessSync(path, constants.W_OK)
    } catch (e) {
      if ((e as SqliteError).code === 'ENOENT' && path === file.path) continue
      fail(`${what} is not writable by this process (${messageOf(e)})`, 'Give this process write access to the database file and its folder, or migrate from one that has it.')
    }
  }
}
