// The databases the contract suite runs against. Every behaviour test in test/contract/ runs once per entry;
// a new dialect (MySQL) is one more entry here. Only what differs between dialects lives in a target.
import { existsSync, readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import { afterAll } from 'vitest'
import { freshDatabase } from '../helpers.js'
import { freshFile } from '../sqlite-helpers.js'
import { myApplyFile, mySchema, pgApplyFile, pgSchema, sqliteSchema } from './schema.js'
import mysql from 'mysql2/promise'
import { mysqlLockName } from '../../src/dialects/mysql.js'
import { randomBytes } from 'node:crypto'
import { nodePostgresTarget, pgliteTarget } from './client-targets.js'

export type Row = Record<string, unknown>

/** A new, empty database and a connection of the test's own to look at it. */
export interface TestDatabase {
  /** The database's URL: what other processes (workers, the CLI, other tools) are given. */
  url: string
  /** What migrate() in this process is given to reach the database: `url`, or the client under test. */
  connection: Connection
  /** One statement. Rows are plain objects: integers (counts included) as numbers, timestamps as ISO strings. */
  query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<R[]>
  /** A script of several statements, as a DBA runs one by hand. */
  exec(sql: string): Promise<void>
  /** The tables in the default schema, sorted; boot-migrate's `<history>_progress` (made on demand) is left out. */
  tables(): Promise<string[]>
  /** The indexes created by statements (not those behind a primary key or unique constraint), sorted. */
  indexes(): Promise<string[]>
  /** The columns of a table, in order. */
  columns(table: string): Promise<string[]>
  /**
   * The schema as text (pg_dump --schema-only, sqlite_schema, or MySQL's SHOW CREATE TABLE of every table, AUTO_INCREMENT=n
   * left out) without the named tables (`name`, `schema.name`, `schema.*`); a named table's `<name>_progress` goes with it
   * (boot-migrate's progress table, made by the first revision run outside a transaction: every DDL revision on MySQL).
   */
  schema(exclude?: string[]): Promise<string>
  /** Runs a SQL file as users of other tools do by hand: psql -v ON_ERROR_STOP=1 -f on PostgreSQL, one exec on SQLite. */
  applyFile(path: string): Promise<void>
  /** Whether some process holds the migration lock. */
  lockHeld(): Promise<boolean>
  /** An app's own connection, to hand to migrate() as `client`; `statements` records everything sent on it. */
  appClient(): AppClient
  /** drizzle-orm's own migrate(), run in this process, for a database no other process can reach (PGlite). */
  drizzleMigrate?(folder: string): Promise<{ ok: boolean; out: string }>
  close(): Promise<void>
}

export type Connection = { url: string } | { client: unknown }

export interface AppClient {
  client: unknown
  statements: string[]
  query(sql: string): Promise<Row[]>
}

export interface Target {
  /** The dialect, as migrate() reports it (ctx.dialect). */
  name: 'postgres' | 'sqlite' | 'mysql'
  /** The target in test names: the dialect, or the client under test on it (node-postgres, pglite). */
  label: string
  /**
   * Whether other processes can reach the database (workers, the CLI, other tools' binaries, kill -9 of a
   * migrator). PGlite lives inside the test's process, so the tests that need a second process do not apply.
   */
  processes: boolean
  /**
   * Whether the database can be read while a revision's transaction is open. PGlite has one backend, and the
   * transaction holds the instance, so reads (the test's `lockHeld()` included) wait for the commit.
   */
  readsDuringRevision: boolean
  fresh(): Promise<TestDatabase>
  /** The history table as the dialect's statements name it. */
  historyTable: string
  /**
   * Which line `file:line` names for a failing statement: PostgreSQL reports where in the statement the
   * error is (the failing token's line); SQLite does not, so it is the line the statement starts on.
   */
  errorLine: 'failing token' | 'statement start'
  /**
   * Whether a transaction undoes DDL. MySQL commits implicitly around each DDL statement, so a revision with DDL
   * runs statement by statement outside a transaction: a failure after its first statement leaves it dirty.
   */
  transactionalDdl: boolean
  /**
   * The tools whose folders and histories the dialect takes over, as the README lists them; each tool's contract
   * tests run on the targets that list it.
   */
  takeover: Array<'drizzle' | 'prisma' | 'flyway' | 'golang-migrate' | 'goose' | 'dbmate'>
  /** A quoted identifier, as the dialect writes one. */
  quote(name: string): string
  /** How the round-trip diff names a table or an index. */
  qualified(name: string): string
  /** A URL for offline work (`script({ from })`), which must not read a database. */
  offlineUrl: string
  /** Whether `ctx.sql` of a function revision is this dialect's driver. */
  isDriver(sql: unknown): boolean
  sql: {
    /** A column type for an id the database fills in. */
    autoId: string
    /** The n-th (1-based) bind parameter of `ctx.query`. */
    param(n: number): string
    /** An index built in a revision outside a transaction: concurrently on PostgreSQL, so that readers and writers go on. */
    buildIndex(name: string, table: string, column: string): string
    dropIndex(name: string, table: string): string
    /** A statement the dialect refuses inside a transaction, and how the refusal names it; none on MySQL. */
    refusedInTransaction?: [statement: string, what: string]
    /** A maintenance statement on a table, for a no-transaction revision. */
    maintenance(table: string): string
  }
}

/** The per-statement progress table boot-migrate makes on demand next to its history: not a table of the revisions'. */
const notProgress = (name: string) => !name.endsWith('_progress')

const open: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const close of open.splice(0)) await close()
})

/** Integers as numbers (postgres.js returns int8 as a string) and timestamps as ISO strings, as SQLite gives them. */
const plain = (rows: readonly Row[]): Row[] =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])))
/** The excluded tables and their progress tables. */
const withProgress = (exclude: string[] = []) => exclude.flatMap((t) => (t.endsWith('*') || t.endsWith('_progress') ? [t] : [t, `${t}_progress`]))
const int8 = { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) }

const postgresTarget: Target = {
  name: 'postgres',
  async fresh() {
    const url = await freshDatabase()
    return { ...(await postgresDatabase(url)), connection: { url } }
  },
  label: 'postgres',
  processes: true,
  readsDuringRevision: true,
  historyTable: '"public"."boot_migrate_history"',
  transactionalDdl: true,
  takeover: ['drizzle', 'prisma', 'flyway', 'golang-migrate', 'goose', 'dbmate'],
  quote: (name) => `"${name.replace(/"/g, '""')}"`,
  errorLine: 'failing token',
  qualified: (name) => `public.${name}`,
  offlineUrl: 'postgres://nobody@127.0.0.1:1/none',
  isDriver: (sql) => typeof sql === 'function' && typeof (sql as { unsafe?: unknown }).unsafe === 'function',
  sql: {
    autoId: 'serial primary key',
    param: (n) => `$${n}`,
    buildIndex: (name, table, column) => `create index concurrently ${name} on ${table} (${column})`,
    dropIndex: (name) => `drop index concurrently ${name}`,
    refusedInTransaction: ['vacuum', 'VACUUM'],
    maintenance: () => 'vacuum',
  },
}

/** A PostgreSQL database on the server, looked at through postgres.js, whichever client migrates it. */
async function postgresDatabase(url: string): Promise<Omit<TestDatabase, 'connection'>> {
  const sql = postgres(url, { max: 2, onnotice: () => undefined, types: { int8 } })
  const query = async <R extends Row>(text: string, params: unknown[] = []) => plain(await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as R[]
  const close = () => sql.end({ timeout: 1 })
  open.push(close)
  return {
    url,
    query,
    // One connection of its own: postgres.js runs a script holding BEGIN/COMMIT only where no other query can slip in.
    async exec(text) {
      const one = postgres(url, { max: 1, onnotice: () => undefined })
      try {
        await one.unsafe(text)
      } finally {
        await one.end({ timeout: 1 })
      }
    },
    tables: async () => (await query<{ name: string }>("select table_name as name from information_schema.tables where table_schema = 'public'")).map((r) => r.name).filter(notProgress).sort(),
    indexes: async () =>
      (
        await query<{ name: string }>(
          `select i.relname as name from pg_index x join pg_class i on i.oid = x.indexrelid join pg_namespace n on n.oid = i.relnamespace
            where n.nspname = 'public' and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`,
        )
      )
        .map((r) => r.name)
        .sort(),
    columns: async (table) =>
      (
        await query<{ name: string }>(
          "select column_name as name from information_schema.columns where table_schema = 'public' and table_name = $1 order by ordinal_position",
          [table],
        )
      ).map((r) => r.name),
    schema: (exclude) => pgSchema(url, withProgress(exclude)),
    applyFile: async (path) => pgApplyFile(url, path, readFileSync(path, 'utf8')),
    lockHeld: async () =>
      (await query<{ n: number }>("select count(*) as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())"))[0]!.n > 0,
    appClient() {
      const statements: string[] = []
      const app = postgres(url, { max: 4, onnotice: () => undefined, debug: (_c, q) => void statements.push(q) })
      open.push(() => app.end({ timeout: 1 }))
      return { client: app, statements, query: async (text) => plain(await app.unsafe(text)) }
    },
    close,
  }
}

const sqliteTarget: Target = {
  name: 'sqlite',
  async fresh() {
    const file = await freshFile()
    /** A connection per call: nothing of the test's stays open on the file between checks. */
    const withDb = <T>(fn: (db: Database.Database) => T): T => {
      const db = new Database(file)
      try {
        return fn(db)
      } finally {
        db.close()
      }
    }
    const query = async <R extends Row>(text: string, params: unknown[] = []) =>
      withDb((db) => {
        const st = db.prepare(text)
        if (st.reader) return st.all(...params) as R[]
        st.run(...params)
        return [] as R[]
      })
    const names = async (text: string, params: unknown[] = []) => (await query<{ name: string }>(text, params)).map((r) => r.name)
    return {
      url: `sqlite:${file}`,
      connection: { url: `sqlite:${file}` },
      query,
      exec: async (text) => withDb((db) => void db.exec(text)),
      tables: async () => (await names("select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\'")).filter(notProgress).sort(),
      indexes: async () => (await names("select name from sqlite_master where type = 'index' and sql is not null")).sort(),
      columns: (table) => names('select name from pragma_table_info(?)', [table]),
      schema: async (exclude) => sqliteSchema(file, withProgress(exclude)),
      applyFile: async (path) => withDb((db) => void db.exec(readFileSync(path, 'utf8'))),
      lockHeld: async () => existsSync(`${file}.lock`),
      appClient() {
        const statements: string[] = []
        const app = new Database(file, { verbose: (s) => void statements.push(String(s)) })
        // verbose sees what runs; a statement SQLite refuses when preparing it (a missing table) was sent all the same.
        const prepare = app.prepare.bind(app)
        app.prepare = ((text: string) => {
          try {
            return prepare(text)
          } catch (e) {
            statements.push(text)
            throw e
          }
        }) as typeof app.prepare
        open.push(async () => void (app.open && app.close()))
        return { client: app, statements, query: async (text) => app.prepare(text).all() as Row[] }
      },
      close: async () => undefined,
    }
  },
  label: 'sqlite',
  processes: true,
  readsDuringRevision: true,
  historyTable: '"boot_migrate_history"',
  transactionalDdl: true,
  takeover: ['drizzle', 'prisma', 'flyway', 'golang-migrate', 'goose', 'dbmate'],
  quote: (name) => `"${name.replace(/"/g, '""')}"`,
  errorLine: 'statement start',
  qualified: (name) => name,
  offlineUrl: 'sqlite::memory:',
  isDriver: (sql) => sql instanceof Database,
  sql: {
    autoId: 'integer primary key',
    param: () => '?',
    buildIndex: (name, table, column) => `create index ${name} on ${table} (${column})`,
    dropIndex: (name) => `drop index ${name}`,
    refusedInTransaction: ['vacuum', 'VACUUM'],
    maintenance: () => 'vacuum',
  },
}

/** Dates as ISO strings, as the other targets give them; BigInt-free counts. */
const myPlain = (rows: unknown): Row[] => (Array.isArray(rows) ? plain(rows as Row[]) : [])

const mysqlTarget: Target = {
  name: 'mysql',
  async fresh() {
    const server = process.env.TEST_MYSQL_URL!
    const name = `bm_${randomBytes(6).toString('hex')}`
    const admin = await mysql.createConnection(server)
    await admin.query(`create database ${name}`)
    await admin.end()
    const u = new URL(server)
    u.pathname = `/${name}`
    const url = u.toString()
    const pool = mysql.createPool({ uri: url, connectionLimit: 4 })
    const query = async <R extends Row>(text: string, params: unknown[] = []) => myPlain((await pool.query(text, params))[0]) as R[]
    const names = async (text: string, params: unknown[] = []) => (await query<{ name: string }>(text, params)).map((r) => r.name)
    const close = async () => {
      await pool.end()
      const drop = await mysql.createConnection(server)
      await drop.query(`drop database if exists ${name}`).catch(() => undefined)
      await drop.end()
    }
    open.push(close)
    return {
      url,
      connection: { url },
      query,
      async exec(text) {
        const one = await mysql.createConnection({ uri: url, multipleStatements: true })
        try {
          await one.query(text)
        } finally {
          await one.end()
        }
      },
      tables: async () => (await names("select table_name as name from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE'")).filter(notProgress).sort(),
      indexes: async () =>
        (await names("select distinct index_name as name from information_schema.statistics where table_schema = database() and index_name <> 'PRIMARY' and non_unique = 1")).sort(),
      columns: (table) => names('select column_name as name from information_schema.columns where table_schema = database() and table_name = ? order by ordinal_position', [table]),
      schema: (exclude) => mySchema(url, withProgress(exclude)),
      applyFile: (path) => myApplyFile(url, path, readFileSync(path, 'utf8')),
      lockHeld: async () => (await query<{ id: unknown }>('select is_used_lock(?) as id', [mysqlLockName(name, 'boot_migrate_history')]))[0]!.id !== null,
      appClient() {
        const statements: string[] = []
        const app = mysql.createPool({ uri: url, connectionLimit: 4 })
        const send = app.query.bind(app)
        app.query = ((text: string, params?: unknown) => (statements.push(typeof text === 'string' ? text : String((text as { sql?: string }).sql)), send(text as never, params as never))) as typeof app.query
        open.unshift(() => app.end())
        return { client: app, statements, query: async (text) => myPlain((await send(text))[0]) }
      },
      close,
    }
  },
  label: 'mysql',
  processes: true,
  readsDuringRevision: true,
  historyTable: '`boot_migrate_history`',
  transactionalDdl: false,
  takeover: ['drizzle', 'prisma', 'flyway', 'golang-migrate', 'goose', 'dbmate'],
  quote: (name) => `\`${name.replace(/`/g, '``')}\``,
  errorLine: 'statement start',
  qualified: (name) => name,
  offlineUrl: 'mysql://nobody@127.0.0.1:1/none',
  isDriver: (sql) => typeof sql === 'object' && sql !== null && typeof (sql as { execute?: unknown }).execute === 'function' && typeof (sql as { query?: unknown }).query === 'function',
  sql: {
    autoId: 'integer auto_increment primary key',
    param: () => '?',
    buildIndex: (name, table, column) => `create index ${name} on ${table} (${column}) algorithm = inplace lock = none`,
    dropIndex: (name, table) => `drop index ${name} on ${table}`,
    maintenance: (table) => `optimize table ${table}`,
  },
}

if (!process.env.TEST_MYSQL_URL) console.warn('contract: the mysql target is skipped: TEST_MYSQL_URL is not set (mysql://root@127.0.0.1:3306/test)')

export const targets: Target[] = [
  postgresTarget,
  nodePostgresTarget(postgresTarget, postgresDatabase),
  pgliteTarget(postgresTarget),
  sqliteTarget,
  ...(process.env.TEST_MYSQL_URL ? [mysqlTarget] : []),
]
