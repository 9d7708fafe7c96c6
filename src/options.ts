import { hostname } from 'node:os'
import { MigrationError } from './errors.js'
import type { MigrateOptions } from './types.js'

let instance: string | undefined
/** host:pid, computed once: a syscall on every no-op boot is not free. */
const defaultInstance = () => (instance ??= `${hostname()}:${process.pid}`)

export interface Settings {
  table: string
  schema: string
  to: string | undefined
  transaction: 'each' | 'all'
  allowOutOfOrder: boolean
  lockTimeout: number
  ddlLockTimeout: number
  lockStale: number
  ddlRetries: number
  connectTimeout: number
  instanceId: string
  mode: 'migrate' | 'wait'
  waitTimeout: number
  shutdownTimeout: number
  drizzle: { table: string; schema: string; keepHistory: boolean }
}

const bad = (why: string): never => {
  throw new MigrationError('INVALID_OPTIONS', why)
}

function ms(options: MigrateOptions, key: keyof MigrateOptions, fallback: number): number {
  const v = options[key]
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`"${key}" must be a number of milliseconds >= 0`)
  return v as number
}

function identifier(options: MigrateOptions, key: 'table' | 'schema', fallback: string): string {
  const v = options[key] ?? fallback
  if (typeof v !== 'string' || !v || Buffer.byteLength(v) > 63) bad(`"${key}" must be a name of 1 to 63 bytes`)
  return v
}

/** proper-lockfile treats anything under 2 s as 2 s; saying so beats silently using another value. */
function lockStaleOf(options: MigrateOptions): number {
  const v = ms(options, 'lockStale', 10_000)
  if (v < 2_000) bad('"lockStale" must be at least 2000 ms: a lock file is refreshed every lockStale/2, at most once a second')
  return v
}

/** Checks options and fills in defaults; throws INVALID_OPTIONS with what to change. */
export function settingsOf(options: MigrateOptions): Settings {
  if (!options || typeof options !== 'object') bad('migrate() takes an options object: { url | client, dir | migrations }')
  if ([options.url, options.client, options.db].filter((x) => x !== undefined).length !== 1) bad('Pass exactly one of "url", "client" or "db".')
  if (options.db !== undefined && !clientOfDb(options.db)) bad('"db" takes a drizzle-orm database made with drizzle(client): its $client is missing.')
  if (options.dir !== undefined && options.migrations !== undefined) bad('Pass "dir" or "migrations", not both.')
  if (options.migrations !== undefined && !Array.isArray(options.migrations)) bad('"migrations" must be an array of revisions.')
  if (options.transaction !== undefined && options.transaction !== 'each' && options.transaction !== 'all')
    bad('"transaction" is "each" (one transaction per revision) or "all" (one for every pending revision).')
  if (options.mode !== undefined && options.mode !== 'migrate' && options.mode !== 'wait') bad('"mode" is "migrate" or "wait".')
  return {
    table: identifier(options, 'table', 'boot_migrate_history'),
    schema: identifier(options, 'schema', 'public'),
    to: options.to,
    transaction: options.transaction ?? 'each',
    allowOutOfOrder: options.allowOutOfOrder === true,
    lockTimeout: ms(options, 'lockTimeout', 300_000),
    ddlLockTimeout: ms(options, 'ddlLockTimeout', 3_000),
    lockStale: lockStaleOf(options),
    ddlRetries: ms(options, 'ddlRetries', 10),
    connectTimeout: ms(options, 'connectTimeout', 30_000),
    instanceId: options.instanceId ?? defaultInstance(),
    mode: options.mode ?? 'migrate',
    waitTimeout: ms(options, 'waitTimeout', 300_000),
    shutdownTimeout: ms(options, 'shutdownTimeout', 10_000),
    drizzle: {
      table: options.drizzle?.table ?? '__drizzle_migrations',
      schema: options.drizzle?.schema ?? 'drizzle',
      keepHistory: options.drizzle?.keepHistory === true,
    },
  }
}

/** Passwords in the URLs we were given: removed from every message we produce. */
export function secretsOf(options: MigrateOptions): string[] {
  const out: string[] = []
  for (const u of [options.url, options.migrationUrl]) {
    const m = u && /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]+)@/i.exec(u)
    if (m?.[1]) {
      out.push(m[1])
      try {
        out.push(decodeURIComponent(m[1]))
      } catch {}
    }
  }
  const pass = ((options.client ?? clientOfDb(options.db)) as { options?: { pass?: unknown } } | undefined)?.options?.pass
  if (typeof pass === 'string' && pass) out.push(pass)
  return out
}

/** The driver client inside a drizzle-orm database object. */
export const clientOfDb = (db: unknown): unknown => (db && typeof db === 'object' ? (db as { $client?: unknown }).$client : undefined)

/** The drizzle schema a `db` was made with, so function revisions get a `db` that knows it. */
export const schemaOfDb = (db: unknown): Record<string, unknown> | undefined =>
  (db as { _?: { fullSchema?: Record<string, unknown> } } | undefined)?._?.fullSchema
