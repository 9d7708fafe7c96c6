import type { Executor } from '../core/connection.js'
import type { TransactionLock } from '../core/transaction-lock.js'

/**
 * What transaction poolers look like from a URL: hints, never proof. Supabase's transaction pooler listens on
 * 6543 (its session pooler on 5432); Neon's pooled endpoints have "-pooler" in their host name. PgBouncer itself
 * can run on any port and answers SHOW only on its admin console, so a self-hosted one is not seen here.
 */
export function poolerHint(host: string | undefined, port: number | string | undefined): string | undefined {
  const why =
    String(port) === '6543'
      ? 'its port is 6543, the port of Supabase\'s transaction pooler'
      : host && /-pooler\b/i.test(host)
        ? `its host ${host} names a pooled endpoint (Neon's "-pooler" hosts go through PgBouncer in transaction mode)`
        : undefined
  return why
    ? `the migration connection may go through a transaction pooler (${why}), where the session lock does not hold: ` +
        "pass pooler: 'transaction' (--pooler transaction), or migrationUrl with a direct connection; pooler: 'none' silences this warning"
    : undefined
}

/** Host and port of a PostgreSQL URL, for the hints above; undefined parts when it does not parse. */
export function hostOf(url: string): { host?: string; port?: string } {
  const m = /^[a-z]+:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?,]*)(?::(\d+))?/i.exec(url)
  return m ? { ...(m[1] ? { host: m[1] } : {}), port: m[2] ?? '5432' } : {}
}

/**
 * The advisory lock of a run through a transaction pooler: `pg_try_advisory_xact_lock` on the same key as the
 * session lock, so pooled and direct migrators of one database exclude each other. The server releases it when
 * the transaction ends (commit, rollback, or a closed connection), so a killed migrator leaves nothing held.
 */
export function pgTransactionLock(key: { key: string; classid: string; objid: string }, blockers: (pid: number) => Promise<string[]>): TransactionLock {
  /** The server session that runs our transaction: only known inside it, since the pooler picks it per transaction. */
  let pid: number | undefined
  return {
    async take(tx: Executor) {
      const [r] = await tx.query<{ ok: boolean; pid: number }>('select pg_try_advisory_xact_lock($1::bigint) as ok, pg_backend_pid() as pid', [key.key])
      pid = r!.pid
      return r!.ok
    },
    async holder(on: Executor) {
      const rows = await on.query<{ pid: number; application_name: string; state: string; secs: number | null }>(
        `select a.pid, a.application_name, a.state, extract(epoch from now() - a.xact_start)::int as secs
           from pg_locks l join pg_stat_activity a on a.pid = l.pid
          where l.locktype = 'advisory' and l.granted and l.classid = $1::oid and l.objid = $2::oid and l.objsubid = 1
            and l.database = (select oid from pg_database where datname = current_database())`,
        [key.classid, key.objid],
      )
      const h = rows[0]
      // Behind a pooler the server session is not the client's: how long its transaction has been open is what says something.
      return h && `pid ${h.pid} (${h.application_name || 'no application_name'}, ${h.secs === null ? 'a session lock' : `transaction open for ${h.secs}s`}, ${h.state})`
    },
    blockers: () => (pid === undefined ? Promise.resolve([]) : blockers(pid)),
  }
}
