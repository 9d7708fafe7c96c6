import type { Options, PostgresType, Sql } from 'postgres'
import type { DialectConfig } from '../dialect.js'
import { loadDrizzlePostgres, loadPostgres, type PostgresFactory } from '../postgres-driver.js'
import { connectSeconds, type PgDriver, type PgQuery, type PgSession, type PgTx } from './driver.js'

export type AnySql = Sql<Record<string, PostgresType>>
export type PgOptions = Options<Record<string, PostgresType>>

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

export function describeClient(sql: AnySql): string {
  const o = sql.options as unknown as { host?: string[]; port?: number[]; database?: string; user?: string }
  return `postgres://${o.user ?? ''}@${o.host?.[0] ?? 'localhost'}:${o.port?.[0] ?? 5432}/${o.database ?? ''}`
}

const unsafe = (on: AnySql, o?: { prepare: boolean }): PgQuery => ((text: string, params: readonly unknown[] = []) => on.unsafe(text, params as never[], o)) as PgQuery

/** The methods of a postgres.js sql that send something: checked before each use. (Others, such as PostgresError, pass as they are.) */
const SENDS = new Set<PropertyKey>(['unsafe', 'file', 'savepoint', 'begin', 'reserve', 'listen', 'notify', 'subscribe', 'largeObject'])

/**
 * postgres.js: a URL of ours, or the app's `sql`. The migration session is a pool of one, opened with the
 * app's connection settings, whose `onclose` tells us the moment the socket goes.
 */
export async function postgresJsDriver(target: { url?: string; client?: AnySql; migrationUrl?: string }, config: DialectConfig): Promise<PgDriver> {
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
    connect_timeout: connectSeconds(config),
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
  const o = target.client?.options as unknown as { host?: string[]; port?: number[] } | undefined

  return {
    app: ((text: string, params: readonly unknown[] = []) => appSql().unsafe(text, params as never[], unprepared)) as PgQuery,
    display: target.migrationUrl ?? target.url ?? describeClient(target.client!),
    cancel: true,
    ...(o ? { endpoint: { host: o.host?.[0], port: o.port?.[0] } } : {}),
    // On a pool of one that is busy waiting, it must be another connection.
    aside: (async (text: string, params: readonly unknown[] = []) => {
      const main = appSql()
      const side = shared ? postgres(target.url!, { max: 1, fetch_types: false, onnotice, connect_timeout: 5, ...unprepared }) : main
      return side.unsafe(text, params as never[], unprepared).finally(() => (side === main ? undefined : side.end({ timeout: 1 })))
    }) as PgQuery,
    async openSession() {
      driver ??= await loadPostgres()
      const p =
        shared?.() ??
        open(
          target.migrationUrl || target.url
            ? fromUrl((target.migrationUrl ?? target.url)!)
            : (o) => postgres({ ...optionsOf(target.client!), ...o, connection: { ...optionsOf(target.client!).connection, application_name } }),
        )
      return postgresJsSession(p, !shared)
    },
    async close() {
      if (other && !target.client) await other.end({ timeout: 5 })
      if (sharedPool && !sharedPool.ended) await sharedPool.end(5)
    },
  }
}

/** The migration session on a postgres.js pool of one; `ownsPool` is false when the pool also serves the app-side reads (destroy() ends it anyway). */
export function postgresJsSession(p: Pool, ownsPool: boolean): PgSession {
  const { sql } = p
  const inFlight = new Set<{ cancel(): unknown }>()
  const send =
    (on: AnySql): PgQuery =>
    ((text: string, params?: readonly unknown[]) => {
      const q = unsafe(on)(text, params)
      const c = q as { cancel(): unknown }
      inFlight.add(c)
      const forget = () => void inFlight.delete(c)
      q.then(forget, forget)
      return q
    }) as PgQuery
  // A transaction's sql has savepoint(): postgres.js fails the whole transaction on any error sent through it, even a
  // caught one, so a statement that may fail alone (a run through a transaction pooler) goes in one of these.
  /** postgres.js gives the number of rows a statement changed as the result's `count`. */
  const count = (on: AnySql) => (text: string) => Promise.resolve(send(on)(text)).then((r) => Number((r as { count?: unknown }).count ?? 0))
  const txOf = (tx: AnySql): PgTx => ({
    query: send(tx),
    run: count(tx),
    driver: tx,
    savepoint: <T>(work: (inner: PgTx) => Promise<T>) => (tx as unknown as { savepoint(fn: (s: AnySql) => Promise<T>): Promise<T> }).savepoint((s) => work(txOf(s))),
  })
  return {
    query: send(sql),
    run: count(sql),
    driver: sql,
    transaction: <T>(work: (tx: PgTx) => Promise<T>) => sql.begin((tx) => work(txOf(tx as unknown as AnySql))) as Promise<T>,
    onClose: p.onClose,
    abandonOnLoss: true,
    // Only the oldest query in flight is executing; the rest of the pipeline then fails on the aborted
    // transaction, which rolls back.
    cancel: () => void inFlight.values().next().value?.cancel(),
    contextDriver(on, inTx, check) {
      return new Proxy(on as AnySql, {
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
    },
    async drizzle(on, schema) {
      const { drizzle } = await loadDrizzlePostgres()
      return drizzle(on as AnySql, { schema })
    },
    release: async () => (ownsPool ? p.end(5) : undefined),
    destroy: () => p.end(0),
  }
}
