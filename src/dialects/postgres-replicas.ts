import { redactGivenUrl, redactUrl } from '../secrets.js'
import type { Replica, ReplicaLag, ReplicaSupport } from './dialect.js'
import type { PgQuery, PgRow } from './pg-driver/driver.js'
import { describeClient, type AnySql } from './pg-driver/postgres-js.js'
import { isNodePgPool, isPostgresJs, type NodePgClientLike, type NodePgPoolLike } from './pg-driver/shapes.js'
import { loadPostgres } from './postgres-driver.js'

type Send = (text: string, params: unknown[]) => Promise<PgRow[]>

/** Unnamed statements: asked once or a few times, and a replica may sit behind a transaction pooler. */
const ONCE = { prepare: false }

/** The history ids as one text parameter holding JSON (typed text: drivers would encode a json parameter again): any id, any count, no array type to look up. */
const idsParam = (ids: string[]) => JSON.stringify(ids)

/**
 * PostgreSQL streaming replicas. The history check is the no-op boot's one query per replica: a standby whose
 * history has the revisions applied has replayed their commits, so the primary need not be asked anything.
 * Only a replica that is behind is then compared by WAL position with the primary (pg_current_wal_lsn()).
 */
export function pgReplicas(app: PgQuery, table: string, instanceId: string): ReplicaSupport {
  const applied = `select count(*)::int as n from ${table} where state = 'applied' and id in (select value from json_array_elements_text($1::text::json))`
  // Seconds: since the last replayed transaction, the usual measure of a standby's delay (0 once caught up).
  const lag = `select pg_last_wal_replay_lsn()::text as replayed,
      coalesce(greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0), 0)::float8 as bytes,
      coalesce(greatest(extract(epoch from now() - pg_last_xact_replay_timestamp()), 0), 0)::float8 as secs`
  const application_name = `boot-migrate ${instanceId} replica`.slice(0, 63)

  function handle(target: string | object, timeoutMs: number): Replica {
    let send: Send
    let close = async () => undefined as void
    let name: string
    if (typeof target === 'string') {
      name = redactGivenUrl(target)
      let sql: Promise<AnySql> | undefined
      // Connected on first use: one attempt bounded by the wait itself, so a black-holed host costs no more than replicaTimeout.
      const open = () =>
        (sql ??= loadPostgres().then((postgres) =>
          postgres(target, {
            max: 1,
            idle_timeout: 0,
            max_lifetime: 0,
            connect_timeout: Math.max(1, Math.min(10, Math.ceil(timeoutMs / 1000))),
            fetch_types: false,
            onnotice: () => undefined,
            connection: { application_name },
          }),
        ))
      send = async (text, params) => [...(await (await open()).unsafe(text, params as never[], ONCE))] as PgRow[]
      close = async () => {
        // At once: its statements are done, and one still connecting (a black-holed host) must not outlast replicaTimeout.
        if (sql) await (await sql).end({ timeout: 0 })
      }
    } else if (isPostgresJs(target)) {
      const sql = target as AnySql
      name = redactUrl(describeClient(sql))
      send = async (text, params) => [...(await sql.unsafe(text, params as never[], ONCE))] as PgRow[]
    } else {
      const c = target as NodePgPoolLike | NodePgClientLike
      const o = isNodePgPool(c) ? c.options : c.connectionParameters
      const u = (k: string) => (typeof o[k] === 'string' || typeof o[k] === 'number' ? String(o[k]) : '')
      name = redactGivenUrl(u('connectionString') || `postgres://${u('user')}@${u('host') || 'localhost'}:${u('port') || 5432}/${u('database')}`)
      send = async (text, params) => ((await c.query(text, params)) as { rows: PgRow[] }).rows
    }

    const hasApplied = async (ids: string[]) => {
      try {
        const [row] = await send(applied, [idsParam(ids)])
        return Number(row?.n) === ids.length
      } catch (e) {
        // The standby has not replayed the history table's creation yet.
        if ((e as { code?: unknown })?.code === '42P01') return false
        throw e
      }
    }
    return {
      name,
      hasApplied,
      async lag(position, ids): Promise<ReplicaLag> {
        const [row] = await send(lag, [position])
        if (row?.replayed === null || row?.replayed === undefined) {
          // Not in recovery (a promoted standby, a logical replica): it has no replay position; its history tells.
          if (await hasApplied(ids)) return { bytes: 0, seconds: 0, caughtUp: true }
          throw new Error('it is not a streaming standby (pg_is_in_recovery() is false) and its history lacks the applied revisions')
        }
        const bytes = Number(row.bytes)
        return { bytes, seconds: bytes > 0 ? Number(row.secs) : 0, caughtUp: bytes === 0 }
      },
      close,
    }
  }

  return {
    open: (replicas, timeoutMs) => replicas.map((r) => handle(r, timeoutMs)),
    async position() {
      const [row] = await app<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')
      return row!.lsn
    },
  }
}
