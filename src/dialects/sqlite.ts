import { accessSync, constants, mkdirSync } from 'node:fs'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import type { Database } from 'better-sqlite3'
import { MigrationError, messageOf } from '../errors.js'
import { historyStatements } from '../core/history.js'
import type { Dialect, DialectConfig, Work } from './dialect.js'
import { libsqlDialect } from './libsql.js'
import { loadLibsqlDriver } from './libsql-driver.js'
import type { LibsqlClient } from './libsql-client.js'
import { loadBetterSqlite3, type SqliteDriver } from './sqlite-driver.js'
import { isBusy, SQLITE_SYNTAX, sqliteConnection } from './sqlite-connection.js'
import { fileLock, memoryLock, type LockOwner } from './sqlite-lock.js'
import { sqliteSchemaSnapshot } from './sqlite-schema.js'
import { sqliteScript } from './sqlite-script.js'
import type { SqliteFile } from './sqlite-url.js'

type Driver = SqliteDriver
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

/** SQLite's SQL rules without a database or better-sqlite3: what `check --dialect sqlite` needs offline. */
export const sqliteRules = {
  name: 'sqlite',
  syntax: SQLITE_SYNTAX,
  nonTransactional: (s: string) => NON_TRANSACTIONAL.find(([re]) => re.test(s))?.[1],
} as const

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`
const codeOf = (e: unknown) => String((e as SqliteError)?.code ?? '')
const NOW = `(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`

/** What every SQLite dialect shares, whichever client reads the history: its SQL, history statements and error classes. */
export function sqliteBase(config: DialectConfig) {
  const table = quoteIdent(config.table)
  const history = historyStatements({
    table,
    param: () => '?',
    timestamp: 'text',
    now: NOW,
    prelude: [],
    progress: quoteIdent(`${config.table}_progress`),
  })
  return {
    name: 'sqlite',
    syntax: SQLITE_SYNTAX,
    capabilities: {
      transactionalDdl: true,
      cancel: false,
      batchCommits: true,
      statementTimeout: 'SQLite has no server to do it, and better-sqlite3 runs each statement to its end',
    },
    history,
    // One namespace per file: a tool's schema is dropped, as the tool itself does on SQLite.
    sql: { dialect: 'sqlite', quote: quoteIdent, qualify: (_schema, name) => quoteIdent(name), param: () => '?', schemas: false },
    classify: (e) => {
      if (isBusy(e)) return 'lock-conflict'
      if (/^no such table\b/i.test(messageOf(e))) return 'missing-table'
      if (/^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)$/.test(codeOf(e))) return 'duplicate'
      return 'other'
    },
    nonTransactional: sqliteRules.nonTransactional,
    effectPresent: (e: unknown) => /already exists|duplicate column name|UNIQUE constraint failed|no such (table|index|column)/i.test(String((e as Error)?.message)),
    implicitCommit: () => false,
    waitsForLocks: () => false,
    scriptFor: (work: Work[], display: string) => sqliteScript(work, table, history.create[0]!, `boot-migrate script for ${display}`),
  } satisfies Partial<Dialect> & Record<string, unknown>
}

/**
 * SQLite through better-sqlite3. `target.file` is a database we open (and close); `target.client` one the
 * app passed (never closed); `target.libsql` an `@libsql/client` Client on a local file (see libsql.ts).
 * `schema` is ignored: a SQLite file has one namespace for the history table.
 */
export async function sqliteDialect(
  target: { file?: SqliteFile; client?: Database; libsql?: LibsqlClient; migrationFile?: SqliteFile; driver?: () => Promise<Driver> },
  config: DialectConfig,
): Promise<Dialect> {
  if (target.libsql) {
    const { migrationFile } = target
    // The file is opened with libSQL's own native driver (libsql-driver.ts): an app on libSQL needs no better-sqlite3.
    return libsqlDialect(target.libsql, sqliteBase(config), (file) => sqliteDialect({ file, driver: loadLibsqlDriver }, config), migrationFile)
  }
  const lockStale = config.lockStale ?? DEFAULT_LOCK_STALE
  const client = target.client
  // A temporary database (empty name) is private to its connection, like :memory:.
  const fileOf = (db: Database): SqliteFile => {
    const memory = db.memory || !db.name
    return { path: memory ? ':memory:' : resolve(db.name), memory, readonly: db.readonly }
  }
  const main: { db: Database; file: SqliteFile; own: boolean } = client
    ? { db: client, file: fileOf(client), own: false }
    : { db: open(await (target.driver ?? loadBetterSqlite3)(), target.file!, config), file: target.file!, own: true }
  const display = describe(main.file)
  const base = sqliteBase(config)

  return {
    ...base,
    display,
    app: {
      query: async (text, params = []) => {
        const st = main.db.prepare(text)
        if (st.reader) return st.all(...params) as never[]
        st.run(...params)
        return []
      },
      async batch(statements) {
        for (const s of statements) main.db.exec(s)
      },
    },
    schemaSnapshot: async () => sqliteSchemaSnapshot(main.db, config.table),
    script: (work) => base.scriptFor(work, display),
    async connect() {
      const session = await connectSession()
      const owner: LockOwner = { instanceId: config.instanceId, pid: process.pid, host: hostname() }
      const { db, file } = session
      try {
        const lock = file.memory ? memoryLock(db, owner) : await fileLock(file.path, { stale: lockStale, owner, display: describe(file) })
        // How long BEGIN IMMEDIATE and COMMIT wait for the app's connections; past it, SQLITE_BUSY and the migrator retries.
        return sqliteConnection(db, lock, { own: session.own, busyTimeout: Math.max(0, Math.round(config.ddlLockTimeout)), ...(config.drizzleDb ? { drizzleDb: config.drizzleDb } : {}) })
      } catch (e) {
        if (session.own) db.close()
        throw e
      }
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
    const driver = (client?.constructor as Driver | undefined) ?? (await (target.driver ?? loadBetterSqlite3)())
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
