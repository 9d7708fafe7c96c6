import { createHash } from 'node:crypto'
import { historyStatements } from '../core/history.js'
import { MigrationError, messageOf } from '../errors.js'
import type { SqlSyntax } from '../revisions/split.js'
import { renderScript, sqlLiteral } from '../script.js'
import { redactUrl } from '../secrets.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { classifyMy, myConnection, rowsOf, type MyConn } from './mysql-connection.js'
import { objectsIn } from './mysql-objects.js'
import { atomicDdl, mySchemaDigest, mySchemaSnapshot } from './mysql-schema.js'

export { isMysqlClient } from './mysql-client.js'

/** Backtick identifiers, `#` comments, backslash escapes in strings, BEGIN … END compound statements; no dollar quotes. */
export const MYSQL_SYNTAX: SqlSyntax = { dollarQuotes: false, brackets: false, nestedComments: false, hashComments: true, backslashEscapes: true, compoundBodies: true }

/**
 * Statements after which MySQL and MariaDB commit implicitly (DDL, account management, table maintenance,
 * LOCK TABLES …): a transaction around them undoes nothing. Temporary tables are the exception.
 */
const IMPLICIT_COMMIT =
  /^(create|alter|drop|rename|truncate|grant|revoke|lock\s+tables?|unlock\s+tables?|analyze|optimize|repair|check\s+table|flush|install|uninstall|cache\s+index|load\s+index|reset|set\s+password)\b/i
const TEMPORARY = /^(create|drop)\s+temporary\s+table\b/i

export const implicitCommit = (statement: string) => IMPLICIT_COMMIT.test(statement) && !TEMPORARY.test(statement)

/** MySQL's SQL rules without a connection or a driver: what `check` needs offline. */
export const mysqlRules = {
  name: 'mysql',
  syntax: MYSQL_SYNTAX,
  // Nothing is refused inside a transaction: DDL commits implicitly, and such a revision runs outside one anyway.
  nonTransactional: (_s: string): string | undefined => undefined,
} as const

export const quoteIdent = (name: string) => `\`${name.replace(/`/g, '``')}\``

/**
 * The GET_LOCK name: database and history table, so two apps in one server do not block each other.
 * MySQL refuses names longer than 64 characters: a longer one is hashed.
 */
export function mysqlLockName(database: string, table: string): string {
  const name = `boot-migrate:${database}.${table}`
  return name.length <= 64 ? name : `boot-migrate:${createHash('sha256').update(name).digest('hex').slice(0, 51)}`
}

type MyModule = typeof import('mysql2/promise')
type Options = Record<string, unknown>
interface MyPool {
  query: MyConn['query']
  getConnection(): Promise<MyConn>
  end(): Promise<void>
  pool?: { config?: { connectionConfig?: Options } }
}

async function loadMysql(): Promise<MyModule> {
  try {
    // A literal specifier, so that a bundler sees the dependency (and a bundle without MySQL leaves it out).
    const mod = (await import('mysql2/promise')) as MyModule & { default?: MyModule }
    return mod.default ?? mod
  } catch (e) {
    throw new MigrationError('DRIVER_MISSING', `MySQL needs the "mysql2" package: npm install mysql2 (${messageOf(e)})`, { cause: e })
  }
}

/** The connection settings of a client the app passed, for connections of our own (the lock, KILL QUERY). */
const KEEP = ['host', 'port', 'localAddress', 'socketPath', 'user', 'password', 'password1', 'password2', 'password3', 'database', 'ssl', 'authPlugins', 'enableCleartextPlugin', 'connectTimeout', 'stream'] as const
function optionsOf(config: Options | undefined): Options {
  const out: Options = {}
  for (const k of KEEP) if (config?.[k] !== undefined && config[k] !== null) out[k] = config[k]
  return out
}

/** A mysql2 callback-API Pool or Connection has `.promise()`: its promise wrapper is what we use. */
const promised = (c: unknown): unknown => {
  const o = c as { promise?: unknown; getConnection?: unknown; beginTransaction?: unknown; connection?: unknown }
  const isPromiseApi = (typeof o.getConnection === 'function' && 'pool' in (o as object)) || (typeof o.beginTransaction === 'function' && 'connection' in (o as object))
  return !isPromiseApi && typeof o.promise === 'function' ? (o.promise as () => unknown).call(c) : c
}

/** mariadb:// is the same protocol. */
const normalUrl = (url: string) => url.replace(/^mariadb:\/\//i, 'mysql://')

export async function mysqlDialect(target: { url?: string; client?: unknown; migrationUrl?: string }, config: DialectConfig): Promise<Dialect> {
  // With the app's client, mysql2 is imported only for connections of our own (the lock on a Connection client,
  // KILL QUERY): a no-op boot imports nothing.
  let driver = target.client === undefined ? await loadMysql() : undefined
  const ours: Options = {
    connectTimeout: Math.max(1000, Math.min(10_000, config.connectTimeout ?? 10_000)),
    multipleStatements: false,
    supportBigNumbers: true,
    bigNumberStrings: false,
  }
  const client = target.client === undefined ? undefined : (promised(target.client) as MyPool | (MyConn & { connection: { config: Options } }))
  const isPool = !!client && typeof (client as MyPool).getConnection === 'function'
  const clientOptions = client ? optionsOf(isPool ? (client as MyPool).pool?.config?.connectionConfig : (client as MyConn).connection?.config) : undefined
  /** How our own connections connect: the migration URL, the URL, or the client's settings. */
  const dedicated = async (): Promise<MyConn> => {
    const url = target.migrationUrl ?? target.url
    const mysql = (driver ??= await loadMysql())
    return (url ? mysql.createConnection({ uri: normalUrl(url), ...ours }) : mysql.createConnection({ ...clientOptions, ...ours })) as unknown as Promise<MyConn>
  }
  let appPool: MyPool | undefined
  const app = (): MyPool | MyConn =>
    client ?? (appPool ??= driver!.createPool({ uri: normalUrl(target.url!), ...ours, connectionLimit: 2, maxIdle: 1, idleTimeout: 10_000 }) as unknown as MyPool)
  const display = redactUrl(target.migrationUrl ?? target.url ?? describe(clientOptions ?? {}))
  const database = config.schema !== 'public' ? config.schema : undefined
  const table = database ? `${quoteIdent(database)}.${quoteIdent(config.table)}` : quoteIdent(config.table)
  const history = historyStatements({
    table,
    progress: database ? `${quoteIdent(database)}.${quoteIdent(`${config.table}_progress`)}` : quoteIdent(`${config.table}_progress`),
    param: () => '?',
    timestamp: 'datetime(6)',
    now: 'current_timestamp(6)',
    prelude: database ? [`create database if not exists ${quoteIdent(database)}`] : [],
  })
  // The template's name strips double quotes only.
  history.name = database ? `${database}.${config.table}` : config.table
  const appQuery = (text: string, params: readonly unknown[] = []) => app().query(text, params.length ? (params as unknown[]) : undefined)
  /** Whether the server's DDL is atomic, read when the migration connection opens. */
  let atomic = false
  const lockTimeoutSql = `set session lock_wait_timeout = ${Math.max(1, Math.ceil(config.ddlLockTimeout / 1000))}`

  return {
    name: 'mysql',
    syntax: MYSQL_SYNTAX,
    capabilities: { transactionalDdl: false, cancel: true, statementTimeout: true },
    display,
    history,
    sql: {
      dialect: 'mysql',
      quote: quoteIdent,
      // The other tools keep their tables in the connection's database on MySQL (their schemas are PostgreSQL's).
      qualify: (_schema, name) => quoteIdent(name),
      param: () => '?',
      schemas: false,
      cast: (expr, type) => `cast(${expr} as ${type === 'bigint' ? 'signed' : type.replace(/^varchar/i, 'char')})`,
    },
    app: {
      query: async (text, params = []) => rowsOf(await appQuery(text, params)),
      async batch(statements) {
        for (const s of statements) await appQuery(s)
      },
    },
    classify: classifyMy,
    nonTransactional: mysqlRules.nonTransactional,
    // 1005 with errno 121: MariaDB's "Can't create table … Duplicate key on write or update", a foreign key of that name exists.
    effectPresent: (e: unknown) => {
      const errno = Number((e as { errno?: unknown })?.errno)
      return [1050, 1060, 1061, 1062, 1826, 1304, 1359, 1091, 1051, 1008, 1007].includes(errno) || (errno === 1005 && /errno: 121\b/.test(messageOf(e)))
    },
    implicitCommit,
    schemaDigest: async (on, statement) => (atomic ? mySchemaDigest(on, statement) : undefined),
    recordsFirst: (statement) => atomic && objectsIn(statement) !== undefined,
    waitsForLocks: () => false,
    schemaSnapshot: () => mySchemaSnapshot((text, params) => app().query(text, params as unknown[]), config.table),
    script: (work) =>
      renderScript(
        // A revision with DDL runs outside a transaction, as in a run: each statement commits on its own.
        work.map((w) => {
          const step = w.direction === 'up' ? w.revision.up : w.revision.down
          const ddl = step?.kind === 'sql' && step.statements.some((st) => implicitCommit(st.text))
          return ddl ? { ...w, revision: { ...w.revision, transaction: false } } : w
        }),
        {
          begin: [lockTimeoutSql, 'start transaction'],
          commit: 'commit',
          createHistory: history.create,
          insert: (rev, v) =>
            `insert into ${table} (id, name, checksum, state, applied_by, down_sql) values (${[rev.id, rev.name, v.checksum, v.state, 'sql script', v.downSql].map(myLiteral).join(', ')})`,
          setState: (id, state) => `update ${table} set state = ${myLiteral(state)}, applied_at = current_timestamp(6) where id = ${myLiteral(id)}`,
          remove: (id) => `delete from ${table} where id = ${myLiteral(id)}`,
          // A DDL statement behind a long transaction fails after ddlLockTimeout instead of stalling every reader queued behind
          // it; the client stops there, and the progress rows make the rest resumable (`boot-migrate resolve <id> --resume`).
          outside: [lockTimeoutSql],
          progress: {
            create: history.progress.create,
            add: (id, step, hash) => `insert into ${history.progress.table} (id, step, hash) values (${myLiteral(id)}, ${step}, ${myLiteral(hash)})`,
            clear: (id) => `delete from ${history.progress.table} where id = ${myLiteral(id)}`,
          },
          // Offline, the server is unknown: MariaDB's max_statement_time (seconds) in an executable comment only MariaDB runs.
          // MySQL's max_execution_time bounds only SELECT, not the DDL and writes of a revision, so MySQL gets none.
          timeout: {
            set: (ms) => [`/*M! set session max_statement_time = ${ms / 1000} */`],
            reset: () => ['/*M! set session max_statement_time = default */'],
          },
        },
        `boot-migrate script for ${display}`,
      ),
    async connect() {
      // A dedicated session: GET_LOCK belongs to the session, so it must never be one the app's pool hands out to others.
      const conn = isPool ? await (client as MyPool).getConnection() : await dedicated()
      try {
        const [info] = rowsOf(await conn.query('select connection_id() as id, database() as db, version() as version')) as Array<{ id: number; db: string | null; version: string }>
        atomic = atomicDdl(String(info?.version ?? ''))
        if (!info?.db && !database)
          throw new MigrationError('INVALID_OPTIONS', `No database selected on ${display}: name one in the URL (mysql://user@host/database) or the client's "database" option.`)
        return await myConnection(conn, {
          lockName: mysqlLockName(database ?? info!.db!, config.table),
          display,
          config,
          syntax: MYSQL_SYNTAX,
          classify: classifyMy,
          async side(fn) {
            const on = await dedicated()
            on.on('error', () => undefined)
            try {
              return await fn(on)
            } finally {
              await on.end().catch(() => on.destroy())
            }
          },
          async dispose(c) {
            // A pooled connection is destroyed, not released: our session settings must not reach the app.
            if (isPool) c.destroy()
            else {
              // The timer is cleared (and unref'd): left pending, it kept a process that had finished migrating alive 2 s longer.
              let timer: ReturnType<typeof setTimeout> | undefined
              await Promise.race([c.end(), new Promise((r) => (timer = setTimeout(r, 2000)).unref?.())]).catch(() => undefined)
              clearTimeout(timer)
            }
            c.destroy()
          },
        })
      } catch (e) {
        conn.destroy()
        throw e
      }
    },
    async close() {
      if (appPool) await appPool.end().catch(() => undefined)
      appPool = undefined
    },
  }
}

/** A string literal that reads the same whatever sql_mode says about backslashes. */
const myLiteral = (v: string | null) => (v === null ? 'null' : sqlLiteral(v).replace(/\\/g, '\\\\'))

function describe(o: Options): string {
  return `mysql://${String(o.user ?? '')}@${String(o.host ?? 'localhost')}:${String(o.port ?? 3306)}/${String(o.database ?? '')}`
}
