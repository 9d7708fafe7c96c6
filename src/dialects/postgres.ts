import { createHash } from 'node:crypto'
import { redactUrl } from '../secrets.js'
import { historyStatements } from '../core/history.js'
import { renderScript, sqlLiteral } from '../script.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { MigrationError } from '../errors.js'
import { classifyPg, pgConnection } from './postgres-connection.js'
import type { PgDriver } from './pg-driver/driver.js'
import { postgresJsDriver, type AnySql } from './pg-driver/postgres-js.js'
import { nodePgDriver } from './pg-driver/node-postgres.js'
import { pgliteDriver } from './pg-driver/pglite.js'
import { isNodePgClient, isNodePgPool, isPGlite, isPostgresJs } from './pg-driver/shapes.js'
import { pgSchemaSnapshot } from './postgres-schema.js'
import { transactionScoped } from '../core/transaction-lock.js'
import { hostOf, pgTransactionLock, poolerHint } from './postgres-pooler.js'
import { pgReplicas } from './postgres-replicas.js'

const SYNTAX: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }

const CONCURRENT = /^(create\s+(unique\s+)?index|drop\s+index|reindex\b[\s\S]*)\s+concurrently\b/i

const NON_TRANSACTIONAL: Array<[RegExp, string]> = [
  [/^create\s+(unique\s+)?index\s+concurrently\b/i, 'CREATE INDEX CONCURRENTLY'],
  [/^drop\s+index\s+concurrently\b/i, 'DROP INDEX CONCURRENTLY'],
  [/^reindex\b[\s\S]*\bconcurrently\b/i, 'REINDEX … CONCURRENTLY'],
  [/^vacuum\b/i, 'VACUUM'],
  [/^alter\s+system\b/i, 'ALTER SYSTEM'],
  [/^(create|drop)\s+database\b/i, 'CREATE/DROP DATABASE'],
  [/^(create|drop)\s+tablespace\b/i, 'CREATE/DROP TABLESPACE'],
  [/^(create|drop)\s+subscription\b/i, 'CREATE/DROP SUBSCRIPTION'],
]

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/** PostgreSQL's SQL rules without a connection or a driver: what `check` needs offline. */
export const postgresRules = {
  name: 'postgres',
  syntax: SYNTAX,
  nonTransactional: (s: string) => NON_TRANSACTIONAL.find(([re]) => re.test(s))?.[1],
} as const

/** 64-bit advisory lock key from schema and table, so two apps in one database do not block each other. */
function lockKey(schema: string, table: string) {
  const key = createHash('sha256').update(`boot-migrate:${schema}.${table}`).digest().readBigInt64BE(0)
  const unsigned = BigInt.asUintN(64, key)
  return { key: key.toString(), classid: String(unsigned >> 32n), objid: String(unsigned & 0xffffffffn) }
}

const seconds = (s: unknown) => `${Number(s)}s`

/**
 * PostgreSQL on any client that `driver` adapts (pg-driver/: postgres.js, node-postgres, PGlite): the
 * dialect's SQL, history and lock are the same for all of them; only how statements reach the server differs.
 */
/** The adapter for the app's client, or postgres.js for a URL of our own. */
async function driverFor(target: PostgresTarget, config: DialectConfig): Promise<PgDriver> {
  const { client, migrationUrl } = target
  const onUrl = migrationUrl ? { migrationUrl } : {}
  if (client === undefined || isPostgresJs(client)) return postgresJsDriver({ ...(target.url ? { url: target.url } : {}), ...(client ? { client: client as AnySql } : {}), ...onUrl }, config)
  if (isNodePgPool(client) || isNodePgClient(client)) return nodePgDriver({ client, ...onUrl }, config)
  if (isPGlite(client)) {
    if (migrationUrl) throw new MigrationError('INVALID_OPTIONS', 'A PGlite instance is reachable only through itself: "migrationUrl" does not apply to it.')
    return pgliteDriver(client)
  }
  throw new MigrationError('INVALID_OPTIONS', 'The "client" option is not a PostgreSQL client this dialect knows.')
}

export interface PostgresTarget {
  url?: string
  /** A postgres.js sql, a node-postgres Pool or Client, or a PGlite instance (see pg-driver/shapes.ts). */
  client?: unknown
  migrationUrl?: string
}

export async function postgresDialect(target: PostgresTarget, config: DialectConfig): Promise<Dialect> {
  // Through a transaction pooler with no migrationUrl the lock lasts one transaction (see postgres-pooler.ts).
  const xact = config.pooler === 'transaction' && !target.migrationUrl
  // Only the postgres.js adapter runs a migration inside one transaction with savepoints; with migrationUrl the
  // others only send the boot check through the pooler (node-postgres prepares no named statements).
  if (xact && target.client !== undefined && !isPostgresJs(target.client))
    throw new MigrationError(
      'INVALID_OPTIONS',
      "pooler: 'transaction' with a node-postgres client needs migrationUrl, a direct connection for the migration (with a URL or a postgres.js client, none is needed); a PGlite instance goes through no pooler.",
    )
  const driver = await driverFor(target, config)
  const application_name = `boot-migrate ${config.instanceId}`.slice(0, 63)
  const table = `${quoteIdent(config.schema)}.${quoteIdent(config.table)}`
  const lock = lockKey(config.schema, config.table)
  const display = redactUrl(driver.display)
  const classify = (e: unknown) => (driver.lost?.(e) ? 'connection-lost' : classifyPg(e))
  const history = historyStatements({
    table,
    param: (n) => `$${n}`,
    timestamp: 'timestamptz',
    now: 'now()',
    elapsed: '(extract(epoch from clock_timestamp() - now()) * 1000)::int',
    prelude: config.schema !== 'public' ? [`create schema if not exists ${quoteIdent(config.schema)}`] : [],
    progress: `${quoteIdent(config.schema)}.${quoteIdent(`${config.table}_progress`)}`,
    writableCte: true,
  })

  /** Asked while our connection waits for a lock, on another connection; none where the backend is the app's too (PGlite). */
  const blockers = async (pid: number) => {
    if (!driver.aside) return []
    const rows = await driver.aside<{ pid: number; usename: string; application_name: string; state: string; query: string; secs: number }>(
      `select pid, usename, application_name, state, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) as query,
              extract(epoch from now() - coalesce(xact_start, query_start))::int as secs
         from pg_stat_activity where pid = any(pg_blocking_pids($1))`,
      [pid],
    )
    return rows.map((r) => `pid ${r.pid} (${r.usename}${r.application_name ? `, ${r.application_name}` : ''}, ${r.state} for ${seconds(r.secs)}: ${r.query})`)
  }

  return {
    name: 'postgres',
    syntax: SYNTAX,
    capabilities: { transactionalDdl: true, cancel: driver.cancel, statementTimeout: driver.cancel || 'its single backend has no timer that interrupts a statement', ...(xact ? { lockScope: 'transaction' as const } : {}) },
    display,
    ...sessionDoubt(config, target, driver),
    history,
    sql: { dialect: 'postgres', quote: quoteIdent, qualify: (schema, name) => (schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name)), param: (n) => `$${n}`, schemas: true },
    app: {
      query: (text, params = []) => Promise.resolve(driver.app(text, params)) as Promise<never[]>,
      async batch(statements) {
        for (const s of statements) await driver.app(s)
      },
    },
    classify,
    nonTransactional: postgresRules.nonTransactional,
    effectPresent: (e: unknown) => ['42P07', '42701', '42710', '42P06', '42723', '23505', '42704', '42P01', '42703'].includes(String((e as { code?: unknown })?.code)),
    implicitCommit: () => false,
    waitsForLocks: (s) => CONCURRENT.test(s),
    // A PGlite instance lives in this process: nothing replicates it.
    ...(isPGlite(target.client) ? {} : { replicas: pgReplicas(driver.app, table, config.instanceId) }),
    schemaSnapshot: () => pgSchemaSnapshot(driver.app, config.schema, config.table),
    script: (work) =>
      renderScript(
        work,
        {
          begin: ['begin', `set local lock_timeout = ${Math.max(0, Math.round(config.ddlLockTimeout))}`],
          commit: 'commit',
          createHistory: history.create,
          insert: (rev, v) =>
            `insert into ${table} (id, name, checksum, state, applied_by, down_sql) values (${[rev.id, rev.name, v.checksum, v.state, 'sql script', v.downSql].map(sqlLiteral).join(', ')})`,
          setState: (id, state) => `update ${table} set state = ${sqlLiteral(state)}, applied_at = now() where id = ${sqlLiteral(id)}`,
          remove: (id) => `delete from ${table} where id = ${sqlLiteral(id)}`,
          // SET LOCAL ends with the transaction; outside one the session's value is set and reset after the revision.
          timeout: {
            set: (ms, tx) => [`set${tx ? ' local' : ''} statement_timeout = '${Math.round(ms)}ms'`],
            reset: (tx) => (tx ? [] : ['reset statement_timeout']),
          },
        },
        `boot-migrate script for ${display}`,
      ),
    async connect() {
      const session = await driver.openSession({ applicationName: application_name, config })
      try {
        const conn = await pgConnection(session, { lock, display, config, classify, blockers, syntax: SYNTAX, pooled: xact })
        return xact ? transactionScoped(conn, pgTransactionLock(lock, blockers), config.ddlLockTimeout) : conn
      } catch (e) {
        await session.destroy().catch(() => undefined)
        throw e
      }
    },
    close: () => driver.close(),
  }
}

/** A warning when no pooler mode was chosen and the migration connection's host or port is a pooler's. */
function sessionDoubt(config: DialectConfig, target: PostgresTarget, driver: PgDriver): { sessionDoubt?: string } {
  if (config.pooler) return {}
  const url = target.migrationUrl ?? target.url
  const { host, port } = url ? hostOf(url) : (driver.endpoint ?? {})
  const doubt = poolerHint(host, port)
  return doubt ? { sessionDoubt: doubt } : {}
}
