import { driverMissing } from '../driver.js'
import type { DialectConfig } from '../dialect.js'
import { connectSeconds, type PgDriver, type PgQuery, type PgRow, type PgSession, type PgTx } from './driver.js'
import { isNodePgPool, type NodePgClientLike, type NodePgPoolLike } from './shapes.js'

/** What boot-migrate reads of a node-postgres result: one per statement of a script. */
interface Result {
  rows: PgRow[]
  command?: string | null
  rowCount?: number | null
}

/** Connection settings worth copying to a connection of our own: where and who, not the app's timeouts or pool sizes. */
const KEEP = ['connectionString', 'user', 'password', 'host', 'port', 'database', 'ssl', 'options', 'keepAlive', 'client_encoding', 'stream', 'types'] as const

/** The rows of the last statement: node-postgres answers a script with one result per statement. */
const rowsOf = (r: unknown): PgRow[] => {
  const last = (Array.isArray(r) ? r[r.length - 1] : r) as Result | undefined
  return last?.rows ?? []
}

/**
 * Inside the revision's transaction, the transaction statements a function revision sends (drizzle's
 * db.transaction() sends BEGIN … COMMIT on the client) become savepoints: never a COMMIT of ours, early.
 */
function savepoints() {
  let depth = 0
  const rewrite = (text: string): string => {
    if (/^\s*(begin|start\s+transaction)\b/i.test(text)) return `savepoint boot_migrate_nested_${++depth}`
    if (depth > 0 && /^\s*(commit|end)\s*;?\s*$/i.test(text)) return `release savepoint boot_migrate_nested_${depth--}`
    if (depth > 0 && /^\s*rollback\s*;?\s*$/i.test(text)) {
      const name = `boot_migrate_nested_${depth--}`
      return `rollback to savepoint ${name}; release savepoint ${name}`
    }
    return text
  }
  return (query: unknown): unknown => {
    if (typeof query === 'string') return rewrite(query)
    // A submittable (pg-cursor, pg-query-stream) is passed as it is.
    if (typeof (query as { submit?: unknown } | null)?.submit === 'function') return query
    const text = (query as { text?: unknown } | null)?.text
    return typeof text === 'string' ? { ...(query as object), text: rewrite(text) } : query
  }
}

const LOST = /Connection terminated|connection error and is not queryable|Client was closed and is not queryable|Client has already been connected/i

/**
 * node-postgres: the app's `Pool` or `Client`. The migration session is a `Client` of the same class, with
 * the same settings (password included: pg keeps it out of enumerable properties, so it is read by name),
 * rather than one checked out of the app's pool: it takes no slot the app counts on, and its `end` event
 * tells us the moment the socket goes. Transactions are the driver's documented `BEGIN`/`COMMIT` on that client.
 */
export function nodePgDriver(target: { client: NodePgPoolLike | NodePgClientLike; migrationUrl?: string }, config: DialectConfig): PgDriver {
  const { client } = target
  const pooled = isNodePgPool(client)
  const source = pooled ? client.options : client.connectionParameters
  const Client = pooled ? client.Client : (client.constructor as new (config: Record<string, unknown>) => NodePgClientLike)
  const settings: Record<string, unknown> = {}
  for (const k of KEEP) if (source[k] !== undefined && source[k] !== null) settings[k] = source[k]
  const app = ((text: string, params?: readonly unknown[]) => client.query(text, params ? [...params] : undefined).then(rowsOf)) as PgQuery
  const u = (k: string) => (typeof source[k] === 'string' || typeof source[k] === 'number' ? String(source[k]) : '')
  const display = target.migrationUrl ?? (u('connectionString') || `postgres://${u('user')}@${u('host') || 'localhost'}:${u('port') || 5432}/${u('database')}`)

  const ours = (applicationName: string) =>
    new Client({
      ...(target.migrationUrl ? { connectionString: target.migrationUrl } : settings),
      application_name: applicationName,
      connectionTimeoutMillis: connectSeconds(config) * 1000,
    })

  return {
    app,
    display,
    cancel: true,
    // The app's pool or client is another session than ours: what blocks ours can be asked there.
    aside: app,
    lost: (e) => LOST.test(String((e as Error)?.message ?? '')),
    async openSession({ applicationName }) {
      const session = ours(applicationName)
      const listeners = new Set<() => void>()
      let closed = false
      const close = () => {
        closed = true
        ;[...listeners].forEach((l) => l())
      }
      // An 'error' event with no listener would crash the process: a lost socket is reported as a close.
      session.on('error', close)
      session.on('end', close)
      await session.connect()
      // One statement at a time, in order: node-postgres queues concurrent calls itself, but that is deprecated (gone in pg 9).
      let tail: Promise<unknown> = Promise.resolve()
      const raw = (text: string, params?: readonly unknown[]) => {
        const q = tail.then(() => session.query(text, params ? [...params] : undefined))
        tail = q.then(
          () => undefined,
          () => undefined,
        )
        return q
      }
      const query = ((text: string, params?: readonly unknown[]) => raw(text, params).then(rowsOf)) as PgQuery
      const run = (text: string) => raw(text).then((r) => Number((r as Result).rowCount ?? 0))
      const tx: PgTx = { query, run, driver: session }
      const s: PgSession = {
        ...tx,
        async transaction(work) {
          await query('begin')
          let result
          try {
            result = await work(tx)
          } catch (e) {
            if (!closed) await query('rollback').then(undefined, () => undefined)
            throw e
          }
          // COMMIT of a transaction a failed statement aborted answers ROLLBACK, without an error.
          const done = (await raw('commit')) as Result
          if (done.command === 'ROLLBACK') throw Object.assign(new Error('COMMIT rolled the transaction back: a statement in it had failed'), { code: '40000' })
          return result
        },
        onClose: (l) => (listeners.add(l), () => void listeners.delete(l)),
        cancel() {
          // node-postgres has no cancel of its own: pg_cancel_backend from a second, short-lived connection.
          const pid = session.processID
          if (!pid || closed) return
          const side = ours(`${applicationName} cancel`.slice(0, 63))
          side
            .connect()
            .then(() => side.query('select pg_cancel_backend($1)', [pid]))
            .catch((e: unknown) => config.debug(`cancel failed: ${(e as Error)?.message ?? e}`))
            .finally(() => side.end().catch(() => undefined))
        },
        contextDriver(on, inTx, check) {
          const nested = inTx ? savepoints() : undefined
          return new Proxy(on as NodePgClientLike, {
            get(target, prop) {
              const v = Reflect.get(target, prop) as unknown
              if (typeof v !== 'function') return v
              if (prop !== 'query') return (v as (...a: unknown[]) => unknown).bind(target)
              return (first: unknown, ...rest: unknown[]) => {
                check()
                return (v as (...a: unknown[]) => unknown).call(target, nested ? nested(first) : first, ...rest)
              }
            },
          })
        },
        async drizzle(on, schema) {
          let mod: { drizzle(c: unknown, o: object): unknown }
          try {
            mod = (await import('drizzle-orm/node-postgres')) as unknown as typeof mod
          } catch (e) {
            throw driverMissing('drizzle-orm/node-postgres', 'A drizzle database on node-postgres', e)
          }
          return mod.drizzle(on, { schema })
        },
        release: async () => {
          session.removeListener('end', close)
          await session.end().catch(() => undefined)
        },
        destroy: async () => {
          session.removeListener('end', close)
          await session.end().catch(() => undefined)
        },
      }
      return s
    },
    // The app's client is the app's to end.
    close: async () => undefined,
  }
}
