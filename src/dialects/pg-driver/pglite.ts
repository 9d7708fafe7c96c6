import { driverMissing } from '../driver.js'
import type { PgDriver, PgQuery, PgSession, PgTx } from './driver.js'
import type { PGliteLike, PGliteQueryable } from './shapes.js'

/** With parameters, one statement; without, a script through exec (simple protocol), the rows of its last statement. */
const on = (q: PGliteQueryable): PgQuery =>
  ((text: string, params?: readonly unknown[]) =>
    params?.length ? q.query(text, [...params]).then((r) => r.rows) : q.exec(text).then((r) => r[r.length - 1]?.rows ?? [])) as PgQuery

/** PGlite gives the number of rows a statement changed as `affectedRows`. */
const run = (q: PGliteQueryable) => (text: string) => q.query(text).then((r) => Number(r.affectedRows ?? 0))

let savepoints = 0
async function savepoint<T>(tx: PGliteQueryable, work: () => Promise<T>): Promise<T> {
  const name = `boot_migrate_nested_${++savepoints}`
  await tx.exec(`savepoint ${name}`)
  try {
    const result = await work()
    await tx.exec(`release savepoint ${name}`)
    return result
  } catch (e) {
    await tx.exec(`rollback to savepoint ${name}; release savepoint ${name}`)
    throw e
  }
}

/**
 * PGlite: PostgreSQL in this process, one backend per instance. There is no second session to open, so the
 * migration runs on the app's instance (`sharedWith`): the lock is taken in this process as well as with
 * pg_try_advisory_lock (which is re-entrant on one backend), and the app's queries wait while a revision's
 * transaction holds the instance (PGlite queues them), as they would wait on its locks on a server. No
 * statement can be cancelled: PGlite runs it to its end. Nothing outside this process can reach the instance,
 * so there are no other processes to lock out.
 */
export function pgliteDriver(db: PGliteLike): PgDriver {
  const query = on(db)
  return {
    app: query,
    display: `pglite:${String((db as unknown as { dataDir?: unknown }).dataDir ?? 'memory://')}`,
    cancel: false,
    lost: (e) => /PGlite is closed/i.test(String((e as Error)?.message ?? '')),
    async openSession() {
      await db.waitReady
      const s: PgSession = {
        query,
        run: run(db),
        driver: db,
        transaction: <T>(work: (tx: PgTx) => Promise<T>) => db.transaction((tx) => work({ query: on(tx), run: run(tx), driver: tx })),
        // No socket: a closed instance shows up as the "PGlite is closed" error of the next statement.
        onClose: () => () => undefined,
        cancel: () => undefined,
        contextDriver: (target, inTx, check) =>
          new Proxy(target as PGliteQueryable, {
            get(t, prop, proxy) {
              // PGlite's transaction object has no transaction(): inside the revision's, a nested one is a savepoint.
              if (prop === 'transaction' && inTx) return <T>(work: (tx: unknown) => Promise<T>) => (check(), savepoint(t, () => work(proxy)))
              const v = Reflect.get(t, prop) as unknown
              if (typeof v !== 'function') return v
              // Bound to the instance itself: PGlite's methods read its private fields, which a proxy has not.
              if (!['query', 'exec', 'sql', 'transaction'].includes(String(prop))) return (v as (...a: unknown[]) => unknown).bind(t)
              return (...a: unknown[]) => (check(), (v as (...a: unknown[]) => unknown).apply(t, a))
            },
          }),
        async drizzle(target, schema) {
          let mod: { drizzle(c: unknown, o: object): unknown }
          try {
            mod = (await import('drizzle-orm/pglite')) as unknown as typeof mod
          } catch (e) {
            throw driverMissing('drizzle-orm/pglite', 'A drizzle database on PGlite', e)
          }
          return mod.drizzle(target, { schema })
        },
        sharedWith: db,
        // The instance is the app's: it stays open, without the session settings the migration set on it.
        release: async () => void (await db.exec('reset lock_timeout; reset client_connection_check_interval').catch(() => undefined)),
        destroy: async () => undefined,
      }
      return s
    },
    close: async () => undefined,
  }
}
