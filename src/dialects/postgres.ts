import { createHash } from 'node:crypto'
import type { Options, PostgresType, Sql } from 'postgres'
import { MigrationError, redactUrl } from '../errors.js'
import { revisionFailure } from '../failure.js'
import { renderScript, sqlLiteral } from '../script.js'
import { pgSchemaSnapshot } from './postgres-schema.js'
import type { HistoryRow } from '../plan.js'
import { downSql, stepOf, type Revision } from '../revisions/revision.js'
import { splitStatements, type SqlSyntax, type Statement } from '../revisions/split.js'
import type { MigrationContext } from '../types.js'
import type { ApplyHooks, Dialect, DialectConfig, Session } from './dialect.js'
import { loadDriver } from './driver.js'

type AnySql = Sql<Record<string, PostgresType>>
type PgError = Error & { code?: string; position?: string }

const SYNTAX: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }

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

/** Server not up yet, restarting, or unreachable for now: worth another try. */
const TRANSIENT = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', '57P03', '53300'])

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/** 64-bit advisory lock key from schema and table, so two apps in one database do not block each other. */
function lockKey(schema: string, table: string) {
  const key = createHash('sha256').update(`boot-migrate:${schema}.${table}`).digest().readBigInt64BE(0)
  const unsigned = BigInt.asUintN(64, key)
  return { key: key.toString(), classid: String(unsigned >> 32n), objid: String(unsigned & 0xffffffffn) }
}

const seconds = (s: unknown) => `${Number(s)}s`

export async function postgresDialect(
  target: { url?: string; client?: AnySql; migrationUrl?: string },
  config: DialectConfig,
): Promise<Dialect> {
  const postgres = await loadDriver<typeof import('postgres')>('postgres', 'PostgreSQL')
  const onnotice = (n: { message?: string }) => config.debug(`notice: ${n.message ?? ''}`)
  const own = !target.client
  const application_name = `boot-migrate ${config.instanceId}`.slice(0, 63)
  let lost = false
  const sessionSettings: Options<Record<string, PostgresType>> = {
    max: 1,
    idle_timeout: 0,
    max_lifetime: 0,
    connect_timeout: 10,
    // Our queries read no arrays: the type lookup would be a second query on a cold boot.
    fetch_types: false,
    onnotice,
    // postgres.js reconnects silently; a new connection would not hold our lock.
    onclose: () => void (lost = true),
  }
  // With a URL of our own, one connection serves the boot check, the lock and the revisions: fifty
  // waiting replicas hold fifty connections, not a hundred.
  const shared = own && !target.migrationUrl
  const main: AnySql = target.client ?? postgres(target.url!, { ...sessionSettings, connection: { application_name } })
  const table = `${quoteIdent(config.schema)}.${quoteIdent(config.table)}`
  const lock = lockKey(config.schema, config.table)
  const drizzleTable = `${quoteIdent(config.drizzle?.schema ?? 'drizzle')}.${quoteIdent(config.drizzle?.table ?? '__drizzle_migrations')}`
  /** With keepHistory, drizzle's table follows ours inside the same transaction (idempotent, so adoption can repeat it). */
  const drizzleRecord = (rev: Revision, direction: 'up' | 'down'): [string, unknown[]] | undefined => {
    if (!config.drizzle?.keepHistory || !rev.drizzle) return undefined
    const { hash, when, name } = rev.drizzle
    if (direction === 'down') return [`delete from ${drizzleTable} where hash = $1 and created_at = $2`, [hash, when]]
    return name
      ? [`insert into ${drizzleTable} (hash, created_at, name) select $1, $2, $3 where not exists (select 1 from ${drizzleTable} where name = $3)`, [hash, when, name]]
      : [`insert into ${drizzleTable} (hash, created_at) select $1, $2 where not exists (select 1 from ${drizzleTable} where hash = $1 and created_at = $2)`, [hash, when]]
  }
  const drizzleDdl = [
    `create schema if not exists ${quoteIdent(config.drizzle?.schema ?? 'drizzle')}`,
    `create table if not exists ${drizzleTable} (id serial primary key, hash text not null, created_at bigint)`,
  ]
  const display = redactUrl(target.migrationUrl ?? target.url ?? describeClient(main))

  const readRows = async (sql: AnySql): Promise<HistoryRow[] | null> => {
    try {
      return await sql.unsafe<HistoryRow[]>(`select id, checksum, state from ${table}`)
    } catch (e) {
      if ((e as PgError).code === '42P01') return null
      throw e
    }
  }

  const historyDdl = [
    ...(config.schema !== 'public' ? [`create schema if not exists ${quoteIdent(config.schema)}`] : []),
    `create table if not exists ${table} (
      id text primary key,
      name text not null,
      checksum text,
      state text not null default 'applied' check (state in ('running', 'applied')),
      applied_at timestamptz not null default now(),
      duration_ms integer,
      applied_by text not null,
      down_sql text
    )`,
  ]

  return {
    name: 'postgres',
    syntax: SYNTAX,
    display,
    async readDetails() {
      try {
        const rows = await main.unsafe<Array<Record<string, unknown>>>(
          `select id, name, checksum, state, applied_at, duration_ms, applied_by, down_sql from ${table} order by applied_at, id`,
        )
        return rows.map((r) => ({
          id: String(r.id),
          name: String(r.name),
          checksum: (r.checksum as string | null) ?? null,
          state: r.state as HistoryRow['state'],
          appliedAt: new Date(r.applied_at as Date),
          durationMs: (r.duration_ms as number | null) ?? null,
          appliedBy: String(r.applied_by),
          downSql: (r.down_sql as string | null) ?? null,
        }))
      } catch (e) {
        if ((e as PgError).code === '42P01') return []
        throw e
      }
    },
    schemaSnapshot: () => pgSchemaSnapshot(main, config.schema, config.table),
    script: (work) =>
      renderScript(
        work,
        {
          begin: ['begin', `set local lock_timeout = ${Math.max(0, Math.round(config.ddlLockTimeout))}`],
          commit: 'commit',
          createHistory: historyDdl,
          insert: (rev, v) =>
            `insert into ${table} (id, name, checksum, state, applied_by, down_sql) values (${[rev.id, rev.name, v.checksum, v.state, 'sql script', v.downSql].map(sqlLiteral).join(', ')})`,
          setState: (id, state) => `update ${table} set state = ${sqlLiteral(state)}, applied_at = now() where id = ${sqlLiteral(id)}`,
          remove: (id) => `delete from ${table} where id = ${sqlLiteral(id)}`,
        },
        `boot-migrate script for ${display}`,
      ),
    nonTransactional: (s) => NON_TRANSACTIONAL.find(([re]) => re.test(s))?.[1],
    readHistory: async () => (await readRows(main)) ?? [],
    isTransient: (e) => TRANSIENT.has(String((e as PgError)?.code)),
    async openSession() {
      const sql: AnySql = shared
        ? main
        : target.migrationUrl
          ? postgres(target.migrationUrl, { ...sessionSettings, connection: { application_name } })
          : postgres({
              ...(main.options as unknown as Options<Record<string, PostgresType>>),
              ...sessionSettings,
              connection: { ...main.options.connection, application_name },
              // A fresh copy of the parsed options' per-pool state.
              ...({ shared: { retries: 0, typeArrayMap: {} }, parameters: {} } as object),
            })
      // A killed migrator's statement is cancelled within a second (PostgreSQL 14+) instead of running to its end.
      const [info] = await sql.unsafe<Array<{ pid: number }>>(
        `select pg_backend_pid() as pid, case when current_setting('server_version_num')::int >= 140000
           then set_config('client_connection_check_interval', '1000', false) end as check_interval`,
      )
      const pid = info!.pid
      lost = false
      // Queries in flight, so that stop() can cancel them; settled ones remove themselves.
      const inFlight = new Set<{ cancel(): unknown }>()
      const track = <T extends Promise<unknown> & { cancel(): unknown }>(q: T): T => {
        inFlight.add(q)
        const forget = () => void inFlight.delete(q)
        q.then(forget, forget)
        return q
      }
      const alive = () => {
        if (lost)
          throw new MigrationError('MIGRATION_FAILED', `The connection that held the migration lock on ${display} closed; stopped before doing more.`)
      }

      const session: Session = {
        async tryLock() {
          const [r] = await sql.unsafe<Array<{ ok: boolean }>>('select pg_try_advisory_lock($1::bigint) as ok', [lock.key])
          return r!.ok
        },
        async lockHolder() {
          const rows = await sql.unsafe<Array<{ pid: number; application_name: string; state: string; secs: number }>>(
            `select a.pid, a.application_name, a.state, extract(epoch from now() - a.backend_start)::int as secs
               from pg_locks l join pg_stat_activity a on a.pid = l.pid
              where l.locktype = 'advisory' and l.granted and l.classid = $1::oid and l.objid = $2::oid and l.objsubid = 1
                and l.database = (select oid from pg_database where datname = current_database())`,
            [lock.classid, lock.objid],
          )
          const h = rows[0]
          return h && `pid ${h.pid} (${h.application_name || 'no application_name'}, connected ${seconds(h.secs)} ago, ${h.state})`
        },
        readHistory: () => readRows(sql),
        async readDrizzleHistory() {
          try {
            const rows = await sql.unsafe<Array<{ hash: string; created_at: string | number | null; name?: string | null }>>(`select * from ${drizzleTable}`)
            return rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at), name: r.name ?? null }))
          } catch (e) {
            if ((e as PgError).code === '42P01' || (e as PgError).code === '3F000') return null
            throw e
          }
        },
        async createHistory() {
          for (const ddl of [...historyDdl, ...(config.drizzle?.keepHistory ? drizzleDdl : [])]) await sql.unsafe(ddl)
        },
        async applyInTransaction(revisions, hooks, direction = 'up') {
          alive()
          // Everything is pipelined: BEGIN … COMMIT costs one round trip per revision. A failed statement
          // aborts the transaction, so the COMMIT at the end turns into a ROLLBACK on the server.
          const sent: Array<{ p: Promise<unknown>; rev: Revision; st?: Statement }> = []
          const send = (text: string, params: unknown[], rev: Revision, st?: Statement) => {
            const p = track(sql.unsafe(text, params as never[])) as unknown as Promise<unknown>
            p.catch(() => undefined)
            sent.push({ p, rev, ...(st ? { st } : {}) })
            return p
          }
          const firstFailure = async () => {
            const results = await Promise.allSettled(sent.map((s) => s.p))
            const failed = results.map((r, i) => ({ r, s: sent[i]! })).filter((x) => x.r.status === 'rejected')
            const real = failed.find((x) => ((x.r as PromiseRejectedResult).reason as PgError)?.code !== '25P02') ?? failed[0]
            return real && { error: (real.r as PromiseRejectedResult).reason as PgError, rev: real.s.rev, st: real.s.st }
          }
          const elapsed = `(extract(epoch from clock_timestamp() - current_setting('boot_migrate.started')::timestamptz) * 1000)::int`
          let failure: { error: PgError; rev: Revision; st?: Statement | undefined } | undefined
          const records: Promise<unknown>[] = []
          send(`begin; set local lock_timeout = ${Math.max(0, Math.round(config.ddlLockTimeout))}`, [], revisions[0]!)
          for (const rev of revisions) {
            hooks.started(rev)
            const step = stepOf(rev, direction)
            send(`select set_config('boot_migrate.started', clock_timestamp()::text, true)`, [], rev)
            if (step.kind === 'sql') for (const st of step.statements) send(st.text, [], rev, st)
            else {
              failure = await firstFailure()
              if (failure) break
              try {
                await step.fn(await pgContext(rev, sql, hooks, config))
              } catch (e) {
                failure = { error: e as PgError, rev }
                break
              }
            }
            records.push(
              direction === 'up'
                ? send(
                    `insert into ${table} (id, name, checksum, state, applied_by, down_sql, duration_ms)
                     values ($1, $2, $3, 'applied', $4, $5, ${elapsed}) returning duration_ms`,
                    [rev.id, rev.name, rev.checksum, config.instanceId, downSql(rev)],
                    rev,
                  )
                : send(`delete from ${table} where id = $1 returning ${elapsed} as duration_ms`, [rev.id], rev),
            )
            const dz = drizzleRecord(rev, direction)
            if (dz) send(dz[0], dz[1], rev)
          }
          send(failure ? 'rollback' : 'commit', [], revisions[revisions.length - 1]!)
          failure ??= await firstFailure()
          if (failure)
            throw revisionFailure(failure.rev, failure.error, 'rolled-back', failure.st, Number(failure.error.position) || undefined)
          alive()
          const rows = (await Promise.all(records)) as Array<Array<{ duration_ms: number }>>
          return rows.map((r) => r[0]?.duration_ms ?? 0)
        },
        async applyOutsideTransaction(rev, hooks, direction = 'up') {
          alive()
          hooks.started(rev)
          const started = Date.now()
          const step = stepOf(rev, direction)
          if (direction === 'up')
            await sql.unsafe(`insert into ${table} (id, name, checksum, state, applied_by, down_sql) values ($1, $2, $3, 'running', $4, $5)`, [
              rev.id,
              rev.name,
              rev.checksum,
              config.instanceId,
              downSql(rev),
            ])
          else await sql.unsafe(`update ${table} set state = 'running' where id = $1`, [rev.id])
          // A syntax or permission error on the first statement means nothing ran: the row goes back, no dirty state.
          let failed: { error: PgError; clean: boolean; st?: Statement } | undefined
          if (step.kind === 'sql') {
            for (const [i, st] of step.statements.entries()) {
              try {
                await track(sql.unsafe(st.text))
              } catch (e) {
                failed = { error: e as PgError, clean: i === 0 && String((e as PgError).code).startsWith('42'), st }
                break
              }
            }
          } else {
            try {
              await step.fn(await pgContext(rev, sql, hooks, config))
            } catch (e) {
              failed = { error: e as PgError, clean: false }
            }
          }
          if (failed) {
            if (failed.clean)
              await sql.unsafe(
                direction === 'up' ? `delete from ${table} where id = $1 and state = 'running'` : `update ${table} set state = 'applied' where id = $1`,
                [rev.id],
              )
            throw revisionFailure(rev, failed.error, failed.clean ? 'nothing-applied' : 'dirty', failed.st, Number(failed.error.position) || undefined)
          }
          const duration = Date.now() - started
          alive()
          if (direction === 'up')
            await sql.unsafe(`update ${table} set state = 'applied', applied_at = now(), duration_ms = $2 where id = $1`, [rev.id, duration])
          else await sql.unsafe(`delete from ${table} where id = $1`, [rev.id])
          const dz = drizzleRecord(rev, direction)
          if (dz) await sql.unsafe(dz[0], dz[1] as never[])
          return duration
        },
        isLockConflict: (e) => ((e as { cause?: PgError })?.cause ?? (e as PgError))?.code === '55P03',
        async blockers() {
          // Asked while our own connection waits for a lock: on the shared connection it must be another one.
          const side = sql === main && shared ? postgres(target.url!, { max: 1, fetch_types: false, onnotice, connect_timeout: 5 }) : main
          const rows = await side.unsafe<Array<{ pid: number; usename: string; application_name: string; state: string; query: string; secs: number }>>(
            `select pid, usename, application_name, state, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) as query,
                    extract(epoch from now() - coalesce(xact_start, query_start))::int as secs
               from pg_stat_activity where pid = any(pg_blocking_pids($1))`,
            [pid],
          ).finally(() => (side === main ? undefined : side.end({ timeout: 1 })))
          return rows.map(
            (r) => `pid ${r.pid} (${r.usename}${r.application_name ? `, ${r.application_name}` : ''}, ${r.state} for ${seconds(r.secs)}: ${r.query})`,
          )
        },
        async leftovers() {
          const rows = await sql.unsafe<Array<{ idx: string }>>(
            `select format('%I.%I', n.nspname, c.relname) as idx
               from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
              where not i.indisvalid and n.nspname not in ('pg_catalog', 'information_schema')`,
          )
          return rows.map((r) => `invalid index ${r.idx} left by an interrupted concurrent build: drop it with DROP INDEX CONCURRENTLY ${r.idx};`)
        },
        async resolve(id, outcome) {
          const rows = await sql.unsafe(
            outcome === 'applied'
              ? `update ${table} set state = 'applied' where id = $1 and state = 'running' returning id`
              : `delete from ${table} where id = $1 and state = 'running' returning id`,
            [id],
          )
          return rows.length > 0
        },
        cancel() {
          // Only the oldest query in flight is executing; the rest of the pipeline then fails on the
          // aborted transaction and its COMMIT becomes a ROLLBACK. (Cancelling queued postgres.js
          // queries as well leaves their promises pending.)
          inFlight.values().next().value?.cancel()
        },
        async release() {
          await sql.end({ timeout: 5 })
        },
      }
      return session
    },
    async close() {
      if (own) await main.end({ timeout: 5 })
    },
  }
}

async function pgContext(rev: Revision, sql: AnySql, hooks: ApplyHooks, config: DialectConfig): Promise<MigrationContext<AnySql>> {
  // A drizzle database on the migration connection, so queries built with it are part of the revision's transaction.
  const db = config.drizzle?.db
    ? (await loadDriver<{ drizzle(c: AnySql, o: object): unknown }>('drizzle-orm/postgres-js', 'drizzle-orm')).drizzle(sql, { schema: config.drizzle.db.fullSchema })
    : undefined
  return {
    db,
    sql,
    dialect: 'postgres',
    revision: { id: rev.id, name: rev.name },
    // One statement per query: outside a transaction a multi-statement string would become one implicit transaction.
    async exec(text) {
      for (const st of splitStatements(text, SYNTAX)) await sql.unsafe(st.text)
    },
    query: async <Row>(text: string, params: unknown[] = []) => (await sql.unsafe(text, params as never[])) as unknown as Row[],
    log: hooks.log(rev),
    signal: hooks.signal,
  }
}

function describeClient(sql: AnySql): string {
  const o = sql.options as unknown as { host?: string[]; port?: number[]; database?: string; user?: string }
  return `postgres://${o.user ?? ''}@${o.host?.[0] ?? 'localhost'}:${o.port?.[0] ?? 5432}/${o.database ?? ''}`
}
