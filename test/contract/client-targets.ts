// The PostgreSQL targets that migrate through another client than postgres.js: node-postgres on the same
// server, and PGlite (PostgreSQL in WebAssembly, inside this process). The dialect is the same (`name`), so
// every PostgreSQL expectation holds; only how migrate() reaches the database differs.
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { afterAll } from 'vitest'
import { freshDatabase } from '../helpers.js'
import { pgCatalogSchema } from './schema.js'
import type { Row, Target, TestDatabase } from './targets.js'

const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined)
})

/** Timestamps as ISO strings, as the other targets give them. */
const plain = (rows: readonly Row[]): Row[] =>
  rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])))

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null

/** node-postgres: the app's `pg.Pool` is the client; the database is checked through postgres.js as on the postgres target. */
export function nodePostgresTarget(base: Target, database: (url: string) => Promise<Omit<TestDatabase, 'connection'>>): Target {
  const newPool = (url: string) => {
    const pool = new pg.Pool({ connectionString: url, max: 4 })
    // An idle client whose database is dropped at the end emits 'error': not the test's concern.
    pool.on('error', () => undefined)
    closers.push(() => pool.end())
    return pool
  }
  return {
    ...base,
    label: 'node-postgres',
    async fresh() {
      const url = await freshDatabase()
      return {
        ...(await database(url)),
        connection: { client: newPool(url) },
        appClient() {
          const statements: string[] = []
          const app = newPool(url)
          const send = app.query.bind(app) as (text: string, params?: unknown[]) => Promise<pg.QueryResult>
          app.query = ((text: string | { text: string }, params?: unknown[]) => {
            statements.push(typeof text === 'string' ? text : text.text)
            return send(text as string, params)
          }) as typeof app.query
          return { client: app, statements, query: async (text) => plain((await send(text)).rows as Row[]) }
        },
      }
    },
    isDriver: (sql) => isObject(sql) && typeof sql.query === 'function' && isObject(sql.connectionParameters),
  }
}

/**
 * PGlite: a new in-memory instance per database, the client itself. No other process can open it: the tests
 * that need one (workers, the CLI, kill -9, other tools' binaries) are skipped (`processes: false`), and
 * drizzle's own migrate() runs in this process.
 */
export function pgliteTarget(base: Target): Target {
  return {
    ...base,
    label: 'pglite',
    processes: false,
    readsDuringRevision: false,
    async fresh() {
      const instance = new PGlite()
      await instance.waitReady
      closers.push(() => instance.close())
      const query = async <R extends Row>(text: string, params: unknown[] = []) => plain((await instance.query<Row>(text, params)).rows) as R[]
      const names = async (text: string, params: unknown[] = []) => (await query<{ name: string }>(text, params)).map((r) => r.name)
      return {
        url: 'pglite:memory://',
        connection: { client: instance },
        query,
        exec: async (text) => void (await instance.exec(text)),
        tables: async () =>
          (await names("select table_name as name from information_schema.tables where table_schema = 'public'")).filter((n) => !n.endsWith('_progress')).sort(),
        indexes: async () =>
          (
            await names(`select i.relname as name from pg_index x join pg_class i on i.oid = x.indexrelid join pg_namespace n on n.oid = i.relnamespace
              where n.nspname = 'public' and not exists (select 1 from pg_constraint c where c.conindid = x.indexrelid)`)
          ).sort(),
        columns: (table) =>
          names("select column_name as name from information_schema.columns where table_schema = 'public' and table_name = $1 order by ordinal_position", [table]),
        schema: (exclude = []) => pgCatalogSchema(query, exclude.flatMap((t) => (t.endsWith('*') || t.endsWith('_progress') ? [t] : [t, `${t}_progress`]))),
        applyFile: async (path) => void (await instance.exec(readFileSync(path, 'utf8'))),
        lockHeld: async () => (await query<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory'"))[0]!.n > 0,
        appClient() {
          // The same instance (it is the database), seen through a proxy that records what is sent on it.
          const statements: string[] = []
          const client = new Proxy(instance, {
            get(target, prop) {
              const v = Reflect.get(target, prop, target) as unknown
              if (typeof v !== 'function') return v
              if (prop === 'query' || prop === 'exec') return (text: string, ...rest: unknown[]) => (statements.push(text), (v as (...a: unknown[]) => unknown).call(target, text, ...rest))
              return (v as (...a: unknown[]) => unknown).bind(target)
            },
          })
          return { client, statements, query: async (text) => plain((await instance.query<Row>(text)).rows) }
        },
        async drizzleMigrate(folder) {
          const { drizzle } = await import('drizzle-orm/pglite')
          const { migrate } = await import('drizzle-orm/pglite/migrator')
          try {
            await migrate(drizzle(instance), { migrationsFolder: folder })
            return { ok: true, out: 'OK' }
          } catch (e) {
            return { ok: false, out: `ERROR ${(e as { cause?: Error }).cause?.message ?? (e as Error).message}` }
          }
        },
        close: async () => undefined,
      }
    },
    isDriver: (sql) => isObject(sql) && typeof sql.query === 'function' && typeof sql.exec === 'function',
  }
}
