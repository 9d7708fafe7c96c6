import { ConnectionLost, lossOf, StatementFailure, type Connection, type ErrorKind, type Executor } from '../core/connection.js'
import { MigrationError } from '../errors.js'
import { splitStatements, type SqlSyntax } from '../revisions/split.js'
import type { MigrationContext } from '../types.js'
import type { DialectConfig } from './dialect.js'
import { loadDrizzleMysql } from './mysql-driver.js'

/** The parts of a mysql2/promise connection we use (a Connection or a PoolConnection). */
export interface MyConn {
  threadId: number | null
  query(sql: string, params?: readonly unknown[]): Promise<[unknown, unknown]>
  beginTransaction(): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
  end(): Promise<void>
  destroy(): void
  on(event: string, listener: (...a: unknown[]) => void): unknown
  off?(event: string, listener: (...a: unknown[]) => void): unknown
  removeListener(event: string, listener: (...a: unknown[]) => void): unknown
  release?(): void
  connection?: { config?: Record<string, unknown>; _closing?: boolean; stream?: { destroyed?: boolean } }
}

type MyError = Error & { code?: string; errno?: number }

/** Raised for anything sent after the connection closed. */
/** Rows of a query (a SELECT's array; [] for a statement that returns an OK packet). */
export const rowsOf = (result: [unknown, unknown]): never[] => (Array.isArray(result[0]) ? (result[0] as never[]) : [])

/** The longest a session variable accepts: lock_wait_timeout's maximum (one year, its default). */
const FOREVER = 31_536_000

export interface MyConnectionConfig {
  lockName: string
  display: string
  config: DialectConfig
  syntax: SqlSyntax
  classify(e: unknown): ErrorKind
  /** Runs a query on another connection (ours may be the one waiting): KILL QUERY, who blocks us. */
  side<T>(fn: (on: MyConn) => Promise<T>): Promise<T>
  /** Hands the connection back: a pooled one is destroyed (never returned with our session state), ours is ended. */
  dispose(conn: MyConn, gracefully: boolean): Promise<void>
}

const seconds = (ms: number) => (ms <= 0 ? FOREVER : Math.max(1, Math.ceil(ms / 1000)))

/**
 * The migration connection on a dedicated mysql2 connection. It holds the GET_LOCK lock (a session lock:
 * released when the session ends, never by COMMIT), and every statement of a revision runs on it.
 */
export async function myConnection(conn: MyConn, c: MyConnectionConfig): Promise<Connection> {
  const id = conn.threadId ?? Number((rowsOf(await conn.query("select connection_id() as id"))[0] as unknown as { id: number }).id)
  const { whenLost, lose, why: lostWhy } = lossOf()
  // Without an 'error' listener a connection the server closes while idle would crash the process.
  const onError = (e: unknown) => lose(`the connection to ${c.display} closed (${(e as Error)?.message ?? e})`)
  const onEnd = () => lose(`the connection to ${c.display} closed`)
  conn.on('error', onError)
  conn.on('end', onEnd)
  const off = () => {
    conn.removeListener('error', onError)
    conn.removeListener('end', onEnd)
  }
  let lockTimeout: number | undefined
  let inFlight = 0
  /** Reads of information_schema in flight: a KILL QUERY during one crashes MariaDB 10.11 (signal 11 in create_tmp_table_for_schema). */
  let catalogReads = 0
  /** A statement failed since the last reset: a transaction the revision opened itself may be left open. */
  let failed = false

  const guard = async <T>(send: () => Promise<T>): Promise<T> => {
    if (lostWhy()) throw new ConnectionLost(lostWhy()!)
    inFlight++
    const q = send()
    q.then(undefined, (e: unknown) => {
      failed = true
      if (c.classify(e) === 'connection-lost') lose(`the connection to ${c.display} closed (${(e as Error)?.message ?? e})`)
    })
    try {
      return await Promise.race([q, whenLost])
    } finally {
      inFlight--
    }
  }
  const run = async (text: string, params: readonly unknown[] = []) => {
    const catalog = /\binformation_schema\b/i.test(text)
    if (catalog) catalogReads++
    try {
      return rowsOf(await guard(() => conn.query(text, params.length ? (params.map(bindable) as unknown[]) : undefined)))
    } finally {
      if (catalog) catalogReads--
    }
  }

  const executor: Executor = {
    query: (text, params = []) => run(text, params),
    // An UPDATE or DELETE answers an OK packet (ResultSetHeader) with affectedRows.
    run: async (text) => {
      const [header] = await guard(() => conn.query(text))
      return { rows: Number((header as { affectedRows?: unknown } | null)?.affectedRows ?? 0) }
    },
    async batch(statements) {
      for (const [i, text] of statements.entries()) {
        try {
          await run(text)
        } catch (e) {
          throw new StatementFailure(i, e)
        }
      }
    },
  }

  const setTimeouts = async (ms: number) => {
    if (ms === lockTimeout) return
    const s = seconds(ms)
    // lock_wait_timeout: metadata locks (DDL behind a long transaction); innodb_lock_wait_timeout: row locks.
    await run(`set session lock_wait_timeout = ${s}, innodb_lock_wait_timeout = ${s}`)
    lockTimeout = ms
  }

  /**
   * MariaDB's max_statement_time (seconds, every statement) or MySQL's max_execution_time (ms, SELECT only: MySQL has
   * nothing for DDL or writes), and the session's own value, read the first time a timeout is set. There is no
   * SET LOCAL: inside a transaction it is set on the session too, and the caller puts it back after the revision.
   */
  let timeoutVar: { name: 'max_statement_time' | 'max_execution_time'; own: number } | undefined
  let timeoutSet = false
  const setStatementTimeout = async (ms: number | undefined) => {
    if (ms === undefined && !timeoutSet) return
    if (!timeoutVar) {
      const [v] = (await run('select version() as v')) as Array<{ v: string }>
      const name = /mariadb/i.test(String(v?.v)) ? 'max_statement_time' : 'max_execution_time'
      const [own] = (await run(`select @@session.${name} as t`)) as Array<{ t: unknown }>
      timeoutVar = { name, own: Number(own?.t ?? 0) }
    }
    const value = ms === undefined ? timeoutVar.own : timeoutVar.name === 'max_statement_time' ? ms / 1000 : Math.round(ms)
    await run(`set session ${timeoutVar.name} = ${Number(value)}`)
    timeoutSet = ms !== undefined
  }

  const drizzleOf = async () => {
    const d = c.config.drizzleDb
    if (!d) return undefined
    const { drizzle } = await loadDrizzleMysql()
    return drizzle(conn, { schema: d.fullSchema, mode: 'default' })
  }

  return {
    ...executor,
    whenLost,
    async transaction(work, { lockTimeout: ms }) {
      await setTimeouts(ms)
      await guard(() => conn.beginTransaction())
      try {
        const result = await work(executor)
        await guard(() => conn.commit())
        return result
      } catch (e) {
        if (!lostWhy()) await guard(() => conn.rollback()).catch(() => undefined)
        throw e
      }
    },
    async context() {
      return {
        sql: conn,
        db: await drizzleOf(),
        async exec(text: string) {
          for (const st of splitStatements(text, c.syntax)) await run(st.text)
        },
        query: <Row>(text: string, params: unknown[] = []) => run(text, params) as Promise<Row[]>,
      } satisfies Partial<MigrationContext> & { sql: unknown }
    },
    setLockTimeout: setTimeouts,
    statementTimeout: (ms) => setStatementTimeout(ms),
    async tryLock() {
      const [r] = await run('select get_lock(?, 0) as ok', [c.lockName])
      return Number((r as unknown as { ok: unknown } | undefined)?.ok) === 1
    },
    async lockHolder() {
      const [r] = await run('select is_used_lock(?) as id', [c.lockName])
      const holder = (r as { id: unknown } | undefined)?.id
      if (holder === null || holder === undefined) return undefined
      const rows = await run(
        // Aliased: MySQL 8 names information_schema columns in capitals (ID, USER …), MariaDB in lower case.
        'select id as id, user as user, host as host, command as command, time as time from information_schema.processlist where id = ?',
        [Number(holder)],
      ).catch(() => [])
      const p = rows[0] as { id: number; user: string; host: string; command: string; time: number } | undefined
      return p ? `connection ${p.id} (${p.user}@${p.host}, ${p.command} for ${p.time}s)` : `connection ${holder}`
    },
    async blockers() {
      // The sessions with a transaction open (an open transaction holds the metadata locks of what it read):
      // what a DDL statement of ours waits behind, and what a row lock waits for.
      const rows = await c
        .side((on) =>
          on.query(
            `select p.id as id, p.user as user, p.host as host, p.command as command, timestampdiff(second, t.trx_started, now()) as secs,
                    left(replace(coalesce(p.info, t.trx_query, ''), '\\n', ' '), 200) as query
               from information_schema.innodb_trx t join information_schema.processlist p on p.id = t.trx_mysql_thread_id
              where p.id <> ? order by t.trx_started limit 5`,
            [id],
          ),
        )
        .then(rowsOf)
      return (rows as Array<{ id: number; user: string; host: string; command: string; secs: number; query: string }>).map(
        (r) => `connection ${r.id} (${r.user}@${r.host}, transaction open for ${Number(r.secs)}s, ${r.command}${r.query ? `: ${r.query}` : ''})`,
      )
    },
    leftovers: async () => [],
    async reset() {
      // COM_RESET_CONNECTION and COM_CHANGE_USER would release the GET_LOCK lock too: the settings a revision
      // is likely to change are put back one by one instead.
      if (failed) await run('rollback').catch(() => undefined)
      failed = false
      lockTimeout = undefined
      await run(
        'set session sql_mode = default, time_zone = default, foreign_key_checks = default, unique_checks = default, ' +
          'autocommit = 1, lock_wait_timeout = default, innodb_lock_wait_timeout = default',
      )
    },
    cancel() {
      // A read of information_schema is left to finish (it is short): the run checks the signal before its next statement.
      if (!inFlight || lostWhy() || catalogReads) return
      // KILL QUERY from a second connection: the statement in flight ends with an error, the session and its lock stay.
      void c.side((on) => on.query(`kill query ${Number(id)}`)).catch((e) => c.config.debug(`cancel failed: ${(e as Error)?.message ?? e}`))
    },
    lost: lostWhy,
    async close() {
      if (!lostWhy()) await guard(() => conn.query('select release_lock(?)', [c.lockName])).catch(() => undefined)
      off()
      lose('the connection was released')
      await c.dispose(conn, true)
    },
    async destroy() {
      lose('the connection was closed by stop()')
      off()
      // Swallow what the socket says as it goes.
      conn.on('error', () => undefined)
      await c.dispose(conn, false)
    },
  }
}

/** mysql2 sends a JS undefined as NULL only when told; booleans as 1/0. */
const bindable = (v: unknown) => (v === undefined ? null : v)

/** Maps MySQL/MariaDB and mysql2 errors onto what the algorithm cares about. */
export function classifyMy(e: unknown): ErrorKind {
  if (e instanceof ConnectionLost) return 'connection-lost'
  if (e instanceof MigrationError) return 'other'
  const code = String((e as MyError)?.code ?? '')
  const errno = Number((e as MyError)?.errno ?? 0)
  // Lock wait timeout (metadata or row lock), deadlock, a NOWAIT/SKIP LOCKED refusal.
  if (errno === 1205 || errno === 1213 || errno === 3572 || code === 'ER_LOCK_WAIT_TIMEOUT' || code === 'ER_LOCK_DEADLOCK') return 'lock-conflict'
  // MariaDB's max_statement_time (1969), MySQL's max_execution_time (3024); stop()'s KILL QUERY is 1317, not these.
  if (errno === 1969 || errno === 3024 || code === 'ER_STATEMENT_TIMEOUT' || code === 'ER_QUERY_TIMEOUT') return 'statement-timeout'
  if (errno === 1146 || code === 'ER_NO_SUCH_TABLE') return 'missing-table'
  if (errno === 1062 || code === 'ER_DUP_ENTRY') return 'duplicate'
  // The session was killed (1927 ER_CONNECTION_KILLED on MariaDB, 4031 on MySQL 8), the server went away or is shutting down.
  if (
    [1927, 4031, 2006, 2013, 1053, 3169].includes(errno) ||
    ['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'ER_CONNECTION_KILLED', 'ER_SERVER_SHUTDOWN', 'PROTOCOL_SEQUENCE_TIMEOUT'].includes(code) ||
    /can't add new command when connection is in closed state|connection is in closed state/i.test((e as Error)?.message ?? '')
  )
    return 'connection-lost'
  if (
    [1040, 1203, 2002, 2003].includes(errno) ||
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ER_CON_COUNT_ERROR', 'ER_TOO_MANY_USER_CONNECTIONS'].includes(code)
  )
    return 'transient'
  return 'other'
}
