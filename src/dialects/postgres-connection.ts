import type { Options, PostgresType, Sql } from 'postgres'
import { ConnectionLost, lossOf, StatementFailure, type Connection, type ErrorKind, type Executor } from '../core/connection.js'
import type { MigrationContext } from '../types.js'
import { splitStatements } from '../revisions/split.js'
import { copyStdio } from '../revisions/transaction-control.js'
import { MigrationError } from '../errors.js'
import { loadDrizzlePostgres } from './postgres-driver.js'
import type { DialectConfig } from './dialect.js'

export type AnySql = Sql<Record<string, PostgresType>>
export type PgOptions = Options<Record<string, PostgresType>>
type PgError = Error & { code?: string }

/** Raised for anything sent after the connection closed: postgres.js would otherwise reconnect, queue forever or crash. */
/** A postgres.js pool that says when one of its connections closes. */
export interface Pool {
  sql: AnySql
  onClose(listener: () => void): () => void
  /** Set once end() was called: the pool takes no more queries. */
  ended: boolean
  end(timeout: number): Promise<void>
}

export function pool(postgres: (o: PgOptions) => AnySql, options: PgOptions): Pool {
  const listeners = new Set<() => void>()
  const sql = postgres({ ...options, onclose: () => [...listeners].forEach((l) => l()) })
  const p: Pool = {
    sql,
    onClose: (l) => (listeners.add(l), () => void listeners.delete(l)),
    ended: false,
    end: (timeout) => ((p.ended = true), sql.end({ timeout })),
  }
  return p
}

/** What the connection needs from its dialect. */
export interface PgConnectionConfig {
  lock: { key: string; classid: string; objid: string }
  display: string
  config: DialectConfig
  classify(e: unknown): ErrorKind
  /** Sessions that block the given backend, asked on another connection (ours is the one waiting). */
  blockers(pid: number): Promise<string[]>
  /** Ends the pool when the connection is released; false when the pool also serves the app-side reads (destroy() ends it anyway). */
  ownsPool: boolean
  syntax: Parameters<typeof splitStatements>[1]
  /** Through a transaction pooler: no session settings (they would stay on a server connection other clients get next). */
  pooled?: boolean
}

const seconds = (s: unknown) => `${Number(s)}s`

/** The methods of a postgres.js sql that send something: checked before each use. (Others, such as PostgresError, pass as they are.) */
const SENDS = new Set<PropertyKey>(['unsafe', 'file', 'savepoint', 'begin', 'reserve', 'listen', 'notify', 'subscribe', 'largeObject'])

/** COPY … FROM STDIN / TO STDOUT would leave postgres.js waiting on a stream nobody feeds, or crash on its 'error' event. */
function noCopy(text: string, syntax: Parameters<typeof splitStatements>[1]): string {
  if (copyStdio(text, syntax))
    throw new MigrationError('INVALID_REVISION', 'COPY … FROM STDIN / TO STDOUT needs a data stream: use ctx.sql`copy …`.writable() / .readable(), or INSERT statements.')
  return text
}

/**
 * The migration connection on a postgres.js pool of one. Every statement goes through `guard`: once the
 * pool reports the connection closed, nothing more is sent (a new connection would hold neither the lock nor
 * the transaction), and whatever waits on it rejects instead of hanging in the driver's queue.
 */
export async function pgConnection(p: Pool, c: PgConnectionConfig): Promise<Connection> {
  const { sql } = p
  // A killed migrator's statement is cancelled within a second (PostgreSQL 14+) instead of running to its end.
  const setup = `select case when current_setting('server_version_num')::int >= 140000
      then set_config('client_connection_check_interval', '1000', false) end as check_interval`
  const [info] = await sql.unsafe<Array<{ pid: number }>>(c.pooled ? 'select pg_backend_pid() as pid' : `select pg_backend_pid() as pid, (${setup}) as check`)
  // pg_dump's set_config('search_path', '', false), SET ROLE, temp tables: none of it reaches the next revision.
  const RESET = `set session authorization default; reset all; discard temp; ${setup}`
  const pid = info!.pid
  const { whenLost, lose, why: lostWhy } = lossOf()
  const off = p.onClose(() => lose(`the connection to ${c.display} closed`))
  let lockTimeout: number | undefined

  const inFlight = new Set<{ cancel(): unknown }>()
  /** A session reset owed since the last revision: sent ahead of the next statement, in the same round trip. */
  let owed = false
  /** A statement failed since the last reset: a transaction the revision opened itself may be left open. */
  let failed = false
  const guard = <T>(send: () => PromiseLike<T> & { cancel?(): unknown }): Promise<T> => {
    if (lostWhy()) return Promise.reject(new ConnectionLost(lostWhy()!))
    const reset = owed ? ((owed = false), sql.unsafe(`${failed ? 'rollback; ' : ''}${RESET}`)) : undefined
    if (reset) failed = false
    reset?.catch(() => undefined)
    const q = send()
    q.then(undefined, (e: unknown) => {
      failed = true
      // A terminated backend's error comes before its socket closes: from here on nothing more is sent.
      if (c.classify(e) === 'connection-lost') lose(`the connection to ${c.display} closed (${(e as Error)?.message ?? e})`)
    })
    if (q.cancel) {
      inFlight.add(q as { cancel(): unknown })
      const forget = () => void inFlight.delete(q as { cancel(): unknown })
      q.then(forget, forget)
    }
    return Promise.race([reset ? Promise.all([reset, q]).then(([, r]) => r) : q, whenLost])
  }

  const executor = (on: AnySql): Executor & { driver: AnySql } => ({
    driver: on,
    query: (text, params = []) => guard(() => on.unsafe(text, params as never[])) as Promise<never[]>,
    async batch(statements) {
      // Pipelined: sent at once, so a revision costs one round trip, not one per statement.
      const results = await Promise.allSettled(statements.map((text) => guard(() => on.unsafe(text))))
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, e: r.reason as unknown }] : []))
      const first = failed.find((f) => c.classify(f.e) !== 'aborted-transaction') ?? failed[0]
      if (first) throw new StatementFailure(first.i, first.e)
    },
    // A transaction's sql has savepoint(): postgres.js fails the whole transaction on any error sent through it, even a
    // caught one, so a statement that may fail alone (a run through a transaction pooler) goes in one of these.
    ...('savepoint' in on
      ? { nested: <T>(work: (tx: Executor) => Promise<T>) => guard(() => (on as unknown as { savepoint(fn: (s: AnySql) => Promise<T>): Promise<T> }).savepoint((s) => work(executor(s)))) }
      : {}),
  })

  /** The driver object a function revision receives: checked before each use, and inside a transaction `begin` is a savepoint. */
  const wrap = (on: AnySql, inTx: boolean): AnySql => {
    const check = () => {
      if (lostWhy()) throw new ConnectionLost(lostWhy()!)
    }
    return new Proxy(on, {
      apply(target, self, args) {
        check()
        return Reflect.apply(target as never, self, args)
      },
      get(target, prop) {
        if (prop === 'begin' && inTx) {
          const savepoint = (target as unknown as { savepoint(...a: unknown[]): unknown }).savepoint
          // begin([options,] fn) inside the revision's transaction: a savepoint, never a COMMIT.
          return (...a: unknown[]) => (check(), savepoint.apply(target, a.filter((x) => typeof x === 'function')))
        }
        // A transaction's sql lacks the pool's `options` (drizzle reads its parsers): take them from the pool.
        const v = prop in target ? Reflect.get(target, prop) : Reflect.get(sql, prop)
        if (typeof v !== 'function' || !SENDS.has(prop)) return v
        return (...a: unknown[]) => (check(), v.apply(target, a))
      },
    })
  }

  const drizzleOf = async (client: AnySql) => {
    const d = c.config.drizzleDb
    if (!d) return undefined
    const { drizzle } = await loadDrizzlePostgres()
    return drizzle(client, { schema: d.fullSchema })
  }

  return {
    ...executor(sql),
    whenLost,
    async transaction(work, { lockTimeout: ms }) {
      return guard(() =>
        sql.begin(async (tx) => {
          const on = executor(tx as unknown as AnySql)
          try {
            // Pipelined with the revision's statements; Promise.all rejects with whichever fails first.
            const [, result] = await Promise.all([on.query(`select set_config('lock_timeout', $1, true)`, [`${Math.max(0, Math.round(ms))}ms`]), work(on)])
            return result
          } catch (e) {
            // On a closed connection postgres.js would send its ROLLBACK into a null socket and crash the
            // process; the server has rolled back already, so this callback never settles and guard() reports.
            // A terminated backend reports its error just before the socket closes: wait for the close, briefly.
            if (!lostWhy() && c.classify(e) === 'connection-lost') await Promise.race([whenLost, new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined)
            if (lostWhy()) return new Promise<never>(() => undefined)
            throw e
          }
        }),
      ) as Promise<never>
    },
    async context(tx) {
      const client = wrap((tx as { driver?: AnySql } | undefined)?.driver ?? sql, tx !== undefined)
      const on = executor(client)
      return {
        sql: client,
        db: await drizzleOf(client),
        // One statement per query: outside a transaction a multi-statement string would become one implicit transaction.
        async exec(text: string) {
          for (const st of splitStatements(text, c.syntax)) await on.query(noCopy(st.text, c.syntax))
        },
        query: <Row>(text: string, params: unknown[] = []) => on.query(noCopy(text, c.syntax), params) as Promise<Row[]>,
      } satisfies Partial<MigrationContext>
    },
    async setLockTimeout(ms) {
      if (ms === lockTimeout) return
      await guard(() => sql.unsafe(`select set_config('lock_timeout', $1, false)`, [`${Math.max(0, Math.round(ms))}ms`]))
      lockTimeout = ms
    },
    async tryLock() {
      // Taken only on the server session this connection started on: on another one, a pooler moved us (see notSession).
      const [r] = await guard(() =>
        sql.unsafe<Array<{ ok: boolean | null; now: number }>>(
          'select case when pg_backend_pid() = $2 then pg_try_advisory_lock($1::bigint) end as ok, pg_backend_pid() as now',
          [c.lock.key, pid],
        ),
      )
      if (r!.ok === null) throw notSession(c.display, pid, r!.now)
      return r!.ok
    },
    async lockHolder() {
      const rows = await guard(() =>
        sql.unsafe<Array<{ pid: number; application_name: string; state: string; secs: number }>>(
          `select a.pid, a.application_name, a.state, extract(epoch from now() - a.backend_start)::int as secs
             from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.locktype = 'advisory' and l.granted and l.classid = $1::oid and l.objid = $2::oid and l.objsubid = 1
              and l.database = (select oid from pg_database where datname = current_database())`,
          [c.lock.classid, c.lock.objid],
        ),
      )
      const h = rows[0]
      return h && `pid ${h.pid} (${h.application_name || 'no application_name'}, connected ${seconds(h.secs)} ago, ${h.state})`
    },
    blockers: () => c.blockers(pid),
    async leftovers() {
      const rows = await guard(() =>
        sql.unsafe<Array<{ idx: string }>>(
          `select format('%I.%I', n.nspname, c.relname) as idx
             from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
            where not i.indisvalid and n.nspname not in ('pg_catalog', 'information_schema')`,
        ),
      )
      return rows.map((r) => `invalid index ${r.idx} left by an interrupted concurrent build: drop it with DROP INDEX CONCURRENTLY ${r.idx};`)
    },
    async reset() {
      owed = true
      lockTimeout = undefined
    },
    cancel() {
      // Only the oldest query in flight is executing; the rest of the pipeline then fails on the aborted
      // transaction, which rolls back.
      inFlight.values().next().value?.cancel()
    },
    lost: lostWhy,
    async close() {
      // Still listening while unlocking: a connection that dies meanwhile must settle the unlock, not leave it pending.
      if (!lostWhy()) await guard(() => sql.unsafe('select pg_advisory_unlock($1::bigint)', [c.lock.key])).catch(() => undefined)
      off()
      if (c.ownsPool) await p.end(5)
      lose('the connection was released')
    },
    async destroy() {
      lose('the connection was closed by stop()')
      off()
      await p.end(0)
    },
  }
}

/**
 * Two statements of one connection ran on two server sessions: a transaction pooler hands server connections out
 * per transaction. A session lock taken there would stay on a server connection other clients get, so none is taken.
 * Seen only when the pooler happens to move us between the first statements; a pooler that does not is not seen.
 */
function notSession(display: string, first: number, now: number): MigrationError {
  return new MigrationError(
    'INVALID_OPTIONS',
    `The migration connection to ${display} is not a session: its statements ran on two server connections (backend ${first}, then ${now}), ` +
      "as they do through a transaction pooler (PgBouncer in transaction mode, Supabase's port 6543, Neon's -pooler hosts), where the migration " +
      "lock cannot be held across transactions. Pass pooler: 'transaction' (--pooler transaction), or migrationUrl with a direct connection. " +
      'The lock was not taken and nothing was applied.',
  )
}

/** Maps PostgreSQL and postgres.js errors onto what the algorithm cares about. */
export function classifyPg(e: unknown): ErrorKind {
  const code = String((e as PgError)?.code ?? '')
  if (e instanceof ConnectionLost) return 'connection-lost'
  if (code === '55P03') return 'lock-conflict'
  if (code === '25P02') return 'aborted-transaction'
  if (code === '42P01' || code === '3F000') return 'missing-table'
  if (code === '23505') return 'duplicate'
  // Terminated by an administrator, server shutting down, or the socket went away under a query.
  if (['57P01', '57P02', '57P05', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'ECONNRESET', 'EPIPE', '08006', '08003', '08000'].includes(code))
    return 'connection-lost'
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', '57P03', '53300'].includes(code)) return 'transient'
  return 'other'
}
