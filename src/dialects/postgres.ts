import { createHash } from 'node:crypto'
import { MigrationError } from '../errors.js'
import { redactUrl } from '../secrets.js'
import { historyStatements } from '../core/history.js'
import { renderScript, sqlLiteral } from '../script.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { classifyPg, pgConnection, pool, type AnySql, type PgOptions, type Pool } from './postgres-connection.js'
import { loadPostgres, type PostgresFactory } from './postgres-driver.js'
import { pgSchemaSnapshot } from './postgres-schema.js'
import { transactionScoped } from '../core/transaction-lock.js'
import { hostOf, pgTransactionLock, poolerHint } from './postgres-pooler.js'

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
 * The connection settings of a client the app passed, from its public `options`, for a dedicated
 * connection of our own: the lock needs a session we can watch close, which a connection borrowed from
 * the app's pool cannot give.
 */
function optionsOf(client: AnySql): PgOptions {
  const o = client.options as unknown as Record<string, unknown> & { host?: string[]; port?: number[]; connection?: Record<string, unknown> }
  const keep = ['path', 'user', 'pass', 'database', 'ssl', 'socket', 'target_session_attrs', 'keep_alive', 'connect_timeout'] as const
  const out: Record<string, unknown> = {}
  for (const k of keep) if (o[k] !== undefined) out[k] = o[k]
  if (o.host?.length) out.host = o.host.join(',')
  if (o.port?.length) out.port = o.port[0]
  out.connection = { ...(o.connection ?? {}) }
  return out as PgOptions
}

export async function postgresDialect(target: { url?: string; client?: AnySql; migrationUrl?: string }, config: DialectConfig): Promise<Dialect> {
  // With the app's client, postgres.js is imported only when there is work, for the dedicated connection (its
  // `sql` does not expose its constructor): a no-op boot imports nothing.
  let driver = target.client ? undefined : await loadPostgres()
  const postgres: PostgresFactory = (a, b) => driver!(a, b)
  const onnotice = (n: { message?: string }) => config.debug(`notice: ${n.message ?? ''}`)
  const application_name = `boot-migrate ${config.instanceId}`.slice(0, 63)
  // Through a transaction pooler: no named prepared statements (PgBouncer before 1.21 cannot route them), and with
  // no migrationUrl the lock lasts one transaction (see postgres-pooler.ts).
  const pooled = config.pooler === 'transaction'
  const xact = pooled && !target.migrationUrl
  const unprepared = pooled ? { prepare: false } : undefined
  const connectionSettings: PgOptions = {
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    // Seconds per attempt: 10, or less when the caller gives up sooner (a black-holed host would otherwise cost 10 s).
    connect_timeout: Math.max(1, Math.min(10, Math.ceil((config.connectTimeout ?? 10_000) / 1000))),
    // Our queries read no arrays: the type lookup would be a second query on a cold boot.
    fetch_types: false,
    onnotice,
    ...unprepared,
  }
  const fromUrl = (url: string) => (o: PgOptions) => postgres(url, { ...o, connection: { application_name } })
  const open = (make: (o: PgOptions) => AnySql) => pool(make, connectionSettings)
  // With a URL of our own, one connection serves the boot check, the lock and the revisions: fifty
  // waiting replicas hold fifty connections, not a hundred.
  // A destroyed migration connection ends that pool: the next use opens a new one.
  let sharedPool: Pool | undefined
  // Not through a transaction pooler: there the run's transaction holds the migration connection, and the app-side
  // reads made during it (did another process record this revision?) need one of their own.
  const shared = !target.client && !target.migrationUrl && !xact ? () => (sharedPool && !sharedPool.ended ? sharedPool : (sharedPool = open(fromUrl(target.url!)))) : undefined
  const other: AnySql | undefined = target.client ?? (shared ? undefined : postgres(target.url!, { ...connectionSettings, connection: { application_name } }))
  const appSql = (): AnySql => other ?? shared!().sql
  const table = `${quoteIdent(config.schema)}.${quoteIdent(config.table)}`
  const lock = lockKey(config.schema, config.table)
  const display = redactUrl(target.migrationUrl ?? target.url ?? describeClient(target.client!))
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

  /** Asked while our connection waits for a lock: on a pool of one that is busy, it must be another connection. */
  const blockers = async (pid: number) => {
    const main = appSql()
    const side = shared ? postgres(target.url!, { max: 1, fetch_types: false, onnotice, connect_timeout: 5 }) : main
    const rows = await side
      .unsafe<Array<{ pid: number; usename: string; application_name: string; state: string; query: string; secs: number }>>(
        `select pid, usename, application_name, state, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) as query,
                extract(epoch from now() - coalesce(xact_start, query_start))::int as secs
           from pg_stat_activity where pid = any(pg_blocking_pids($1))`,
        [pid],
        unprepared,
      )
      .finally(() => (side === main ? undefined : side.end({ timeout: 1 })))
    return rows.map((r) => `pid ${r.pid} (${r.usename}${r.application_name ? `, ${r.application_name}` : ''}, ${r.state} for ${seconds(r.secs)}: ${r.query})`)
  }

  return {
    name: 'postgres',
    syntax: SYNTAX,
    capabilities: { transactionalDdl: true, cancel: true, ...(xact ? { lockScope: 'transaction' as const } : {}) },
    display,
    ...sessionDoubt(config, target),
    history,
    sql: { dialect: 'postgres', quote: quoteIdent, qualify: (schema, name) => (schema ? `${quoteIdent(schema)}.${quoteIdent(name)}` : quoteIdent(name)), param: (n) => `$${n}`, schemas: true },
    app: {
      query: (text, params = []) => appSql().unsafe(text, params as never[], unprepared) as Promise<never[]>,
      async batch(statements) {
        for (const s of statements) await appSql().unsafe(s)
      },
    },
    classify: classifyPg,
    nonTransactional: postgresRules.nonTransactional,
    effectPresent: (e: unknown) => ['42P07', '42701', '42710', '42P06', '42723', '23505', '42704', '42P01', '42703'].includes(String((e as { code?: unknown })?.code)),
    implicitCommit: () => false,
    waitsForLocks: (s) => CONCURRENT.test(s),
    schemaSnapshot: () => pgSchemaSnapshot(appSql(), config.schema, config.table),
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
        },
        `boot-migrate script for ${display}`,
      ),
    async connect() {
      driver ??= await loadPostgres()
      const p =
        shared?.() ??
        open(target.migrationUrl || target.url ? fromUrl((target.migrationUrl ?? target.url)!) : (o) => postgres({ ...optionsOf(target.client!), ...o, connection: { ...optionsOf(target.client!).connection, application_name } }))
      try {
        const conn = await pgConnection(p, { lock, display, config, classify: classifyPg, blockers, ownsPool: !shared, syntax: SYNTAX, pooled: xact })
        return xact ? transactionScoped(conn, pgTransactionLock(lock, blockers), config.ddlLockTimeout) : conn
      } catch (e) {
        await p.end(1).catch(() => undefined)
        throw e
      }
    },
    async close() {
      if (other && !target.client) await other.end({ timeout: 5 })
      if (sharedPool && !sharedPool.ended) await sharedPool.end(5)
    },
  }
}

/** A warning when no pooler mode was chosen and the migration connection's host or port is a pooler's. */
function sessionDoubt(config: DialectConfig, target: { url?: string; client?: AnySql; migrationUrl?: string }): { sessionDoubt?: string } {
  if (config.pooler) return {}
  const url = target.migrationUrl ?? target.url
  const o = target.client?.options as unknown as { host?: string[]; port?: number[] } | undefined
  const { host, port } = url ? hostOf(url) : { host: o?.host?.[0], port: o?.port?.[0] }
  const doubt = poolerHint(host, port)
  return doubt ? { sessionDoubt: doubt } : {}
}

function describeClient(sql: AnySql): string {
  const o = sql.options as unknown as { host?: string[]; port?: number[]; database?: string; user?: string }
  return `postgres://${o.user ?? ''}@${o.host?.[0] ?? 'localhost'}:${o.port?.[0] ?? 5432}/${o.database ?? ''}`
}

