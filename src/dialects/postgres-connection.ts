import { ConnectionLost, lossOf, StatementFailure, type Connection, type ErrorKind, type Executor } from '../core/connection.js'
import type { MigrationContext } from '../types.js'
import { splitStatements } from '../revisions/split.js'
import { copyStdio } from '../revisions/transaction-control.js'
import { MigrationError } from '../errors.js'
import type { DialectConfig } from './dialect.js'
import type { PgSession, PgTx } from './pg-driver/driver.js'
import { inProcessLock } from './pg-driver/in-process-lock.js'

type PgError = Error & { code?: string }

/** What the connection needs from its dialect. */
export interface PgConnectionConfig {
  lock: { key: string; classid: string; objid: string }
  display: string
  config: DialectConfig
  classify(e: unknown): ErrorKind
  /** Sessions that block the given backend, asked on another connection (ours is the one waiting). */
  blockers(pid: number): Promise<string[]>
  syntax: Parameters<typeof splitStatements>[1]
  /** Through a transaction pooler: no session settings (they would stay on a server connection other clients get next). */
  pooled?: boolean
}

const seconds = (s: unknown) => `${Number(s)}s`

/** COPY … FROM STDIN / TO STDOUT would leave postgres.js waiting on a stream nobody feeds, or crash on its 'error' event. */
function noCopy(text: string, syntax: Parameters<typeof splitStatements>[1]): string {
  if (copyStdio(text, syntax))
    throw new MigrationError('INVALID_REVISION', 'COPY … FROM STDIN / TO STDOUT needs a data stream: use ctx.sql`copy …`.writable() / .readable(), or INSERT statements.')
  return text
}

/**
 * The migration connection on a driver's session (pg-driver/). Every statement goes through `guard`: once the
 * session reports the connection closed, nothing more is sent (a new connection would hold neither the lock nor
 * the transaction), and whatever waits on it rejects instead of hanging in the driver's queue.
 */
export async function pgConnection(s: PgSession, c: PgConnectionConfig): Promise<Connection> {
  // A killed migrator's statement is cancelled within a second (PostgreSQL 14+) instead of running to its end.
  const setup = `select case when current_setting('server_version_num')::int >= 140000
      then set_config('client_connection_check_interval', '1000', false) end as check_interval`
  const [info] = await s.query<{ pid: number }>(c.pooled ? 'select pg_backend_pid() as pid' : `select pg_backend_pid() as pid, (${setup}) as check`, [])
  // pg_dump's set_config('search_path', '', false), SET ROLE, temp tables: none of it reaches the next revision.
  const RESET = `set session authorization default; reset all; discard temp; ${setup}`
  const pid = info!.pid
  const { whenLost, lose, why: lostWhy } = lossOf()
  const off = s.onClose(() => lose(`the connection to ${c.display} closed`))
  // One backend shared with the app (PGlite): its advisory lock is re-entrant for every caller in this process.
  const local = s.sharedWith ? inProcessLock(s.sharedWith, c.lock.key, c.config.instanceId) : undefined
  let lockTimeout: number | undefined

  /** A session reset owed since the last revision: sent ahead of the next statement, in the same round trip. */
  let owed = false
  /** A statement failed since the last reset: a transaction the revision opened itself may be left open. */
  let failed = false
  const guard = <T>(send: () => PromiseLike<T>): Promise<T> => {
    if (lostWhy()) return Promise.reject(new ConnectionLost(lostWhy()!))
    const reset = owed ? ((owed = false), Promise.resolve(s.query(`${failed ? 'rollback; ' : ''}${RESET}`))) : undefined
    if (reset) failed = false
    reset?.catch(() => undefined)
    const q = Promise.resolve(send())
    q.then(undefined, (e: unknown) => {
      failed = true
      // A terminated backend's error comes before its socket closes: from here on nothing more is sent.
      if (c.classify(e) === 'connection-lost') lose(`the connection to ${c.display} closed (${(e as Error)?.message ?? e})`)
    })
    return Promise.race([reset ? Promise.all([reset, q]).then(([, r]) => r) : q, whenLost])
  }

  const executor = ({ query: send, run, driver, savepoint }: PgTx): Executor & { driver: unknown } => ({
    driver,
    query: (text, params = []) => guard(() => send(text, params)) as Promise<never[]>,
    run: async (text) => ({ rows: await guard(() => run(text)) }),
    async batch(statements) {
      // Pipelined where the driver can: sent at once, so a revision costs one round trip, not one per statement.
      const results = await Promise.allSettled(statements.map((text) => guard(() => send(text))))
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, e: r.reason as unknown }] : []))
      const first = failed.find((f) => c.classify(f.e) !== 'aborted-transaction') ?? failed[0]
      if (first) throw new StatementFailure(first.i, first.e)
    },
    // postgres.js fails the whole transaction on any error sent through it, even a caught one, so a statement that
    // may fail alone (a run through a transaction pooler) goes in a savepoint, where the driver's transaction has them.
    ...(savepoint ? { nested: <T>(work: (tx: Executor) => Promise<T>) => guard(() => savepoint((inner) => work(executor(inner)))) } : {}),
  })

  /** The session's own statement_timeout, read before it is first changed; whether the session's or a transaction's was changed. */
  let ownTimeout: string | undefined
  let sessionTimeout = false
  let localTimeout = false

  const check = () => {
    if (lostWhy()) throw new ConnectionLost(lostWhy()!)
  }

  return {
    ...executor(s),
    whenLost,
    async transaction(work, { lockTimeout: ms }) {
      return guard(() =>
        s.transaction(async (tx) => {
          const on = executor(tx)
          try {
            // Pipelined with the revision's statements; Promise.all rejects with whichever fails first.
            const [, result] = await Promise.all([on.query(`select set_config('lock_timeout', $1, true)`, [`${Math.max(0, Math.round(ms))}ms`]), work(on)])
            return result
          } catch (e) {
            // On a closed connection postgres.js would send its ROLLBACK into a null socket and crash the
            // process; the server has rolled back already, so this callback never settles and guard() reports.
            // A terminated backend reports its error just before the socket closes: wait for the close, briefly.
            if (s.abandonOnLoss && !lostWhy() && c.classify(e) === 'connection-lost') await Promise.race([whenLost, new Promise((r) => setTimeout(r, 1000))]).catch(() => undefined)
            if (s.abandonOnLoss && lostWhy()) return new Promise<never>(() => undefined)
            throw e
          }
        }),
      ) as Promise<never>
    },
    async context(tx) {
      const inTx = tx !== undefined
      const driver = inTx ? (tx as { driver?: unknown }).driver : s.driver
      const send = inTx ? (text: string, params?: readonly unknown[]) => tx.query(text, params) : (text: string, params?: readonly unknown[]) => guard(() => s.query(text, params))
      const client = s.contextDriver(driver, inTx, check)
      const d = c.config.drizzleDb
      return {
        sql: client,
        db: d ? await s.drizzle(client, d.fullSchema) : undefined,
        // One statement per query: outside a transaction a multi-statement string would become one implicit transaction.
        async exec(text: string) {
          for (const st of splitStatements(text, c.syntax)) await send(noCopy(st.text, c.syntax), [])
        },
        query: <Row>(text: string, params: unknown[] = []) => send(noCopy(text, c.syntax), params) as Promise<Row[]>,
      } satisfies Partial<MigrationContext>
    },
    async setLockTimeout(ms) {
      if (ms === lockTimeout) return
      await guard(() => s.query(`select set_config('lock_timeout', $1, false)`, [`${Math.max(0, Math.round(ms))}ms`]))
      lockTimeout = ms
    },
    async statementTimeout(ms, tx) {
      if (ms === undefined && !(tx ? localTimeout : sessionTimeout)) return
      const on = tx ?? executor(s)
      ownTimeout ??= String((await on.query<{ t: string }>(`select current_setting('statement_timeout') as t`))[0]!.t)
      // SET LOCAL inside the revision's transaction: it ends with it, committed or rolled back.
      await on.query(`select set_config('statement_timeout', $1, $2)`, [ms === undefined ? ownTimeout : `${Math.round(ms)}ms`, !!tx])
      if (tx) localTimeout = true
      else sessionTimeout = ms !== undefined
    },
    async tryLock() {
      if (local && !local.claim()) return false
      // Taken only on the server session this connection started on: on another one, a pooler moved us (see notSession).
      const [r] = await guard(() =>
        s.query<{ ok: boolean | null; now: number }>(
          'select case when pg_backend_pid() = $2 then pg_try_advisory_lock($1::bigint) end as ok, pg_backend_pid() as now',
          [c.lock.key, pid],
        ),
      ).catch((e: unknown) => {
        local?.free()
        throw e
      })
      if (!r!.ok) local?.free()
      if (r!.ok === null) throw notSession(c.display, pid, r!.now)
      return r!.ok
    },
    async lockHolder() {
      const here = local?.holder()
      if (here) return here
      const rows = await guard(() =>
        s.query<{ pid: number; application_name: string; state: string; secs: number }>(
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
        s.query<{ idx: string }>(
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
    cancel: () => s.cancel(),
    lost: lostWhy,
    async close() {
      // Still listening while unlocking: a connection that dies meanwhile must settle the unlock, not leave it pending.
      if (!lostWhy()) await guard(() => s.query('select pg_advisory_unlock($1::bigint)', [c.lock.key])).catch(() => undefined)
      local?.free()
      off()
      await s.release()
      lose('the connection was released')
    },
    async destroy() {
      lose('the connection was closed by stop()')
      // A backend shared with the app stays open: the unlock waits for the revision's transaction to roll back.
      if (local) void Promise.resolve(s.query('select pg_advisory_unlock($1::bigint)', [c.lock.key])).then(undefined, () => undefined)
      local?.free()
      off()
      await s.destroy()
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
  // 57014 is also stop()'s cancel ("… due to user request"): only statement_timeout's words make it a timeout.
  if (code === '57014' && /statement timeout/i.test((e as PgError)?.message ?? '')) return 'statement-timeout'
  if (code === '25P02') return 'aborted-transaction'
  if (code === '42P01' || code === '3F000') return 'missing-table'
  if (code === '23505') return 'duplicate'
  // Terminated by an administrator, server shutting down, or the socket went away under a query.
  if (['57P01', '57P02', '57P05', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'ECONNRESET', 'EPIPE', '08006', '08003', '08000'].includes(code))
    return 'connection-lost'
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'CONNECT_TIMEOUT', '57P03', '53300'].includes(code)) return 'transient'
  return 'other'
}
