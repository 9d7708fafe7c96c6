import type { Database } from 'better-sqlite3'
import { MigrationError } from '../errors.js'
import type { MigrateOptions } from '../types.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { isMysqlClient } from './mysql-client.js'
import { isLibsqlClient, localLibsql } from './libsql-client.js'
import type { mysqlDialect } from './mysql.js'
import type { postgresDialect } from './postgres.js'
import type { sqliteDialect } from './sqlite.js'
import { isPostgresClient } from './pg-driver/shapes.js'
import { ACCEPTED_CLIENTS } from './clients.js'
import { sqliteFile, type SqliteFile } from './sqlite-url.js'

/**
 * The dialects an entry point carries: `boot-migrate` all three (each imported when first used, see all.ts),
 * `boot-migrate/postgres` (…/sqlite, …/mysql) one, imported statically, so that a bundle of it holds no other
 * database's code. Only types are imported here: this file tells which database the options name.
 */
export interface Dialects {
  /** The entry point, for the error when the options name a database it does not carry. */
  entry: string
  postgres?: typeof postgresDialect
  sqlite?: typeof sqliteDialect
  mysql?: typeof mysqlDialect
}

const NAMES = { postgres: 'PostgreSQL', sqlite: 'SQLite', mysql: 'MySQL/MariaDB' } as const

function carried<K extends keyof typeof NAMES>(dialects: Dialects, name: K): NonNullable<Dialects[K]> {
  const open = dialects[name]
  if (!open)
    throw new MigrationError(
      'INVALID_OPTIONS',
      `${dialects.entry} migrates ${Object.keys(NAMES)
        .filter((k) => dialects[k as K])
        .map((k) => NAMES[k as K])
        .join(', ')} only, and these options name a ${NAMES[name]} database: import from "boot-migrate/${name}" (or "boot-migrate", which carries all three).`,
    )
  return open as NonNullable<Dialects[K]>
}

const isPostgresUrl = (u: string) => /^postgres(ql)?:\/\//i.test(u)
const isMysqlUrl = (u: string) => /^(mysql|mariadb):\/\//i.test(u)

/** A better-sqlite3 `Database`: `prepare`, `exec` and `pragma` methods and a `memory` flag. */
const isSqliteClient = (c: unknown): c is Database => {
  const o = c as Record<string, unknown> | null
  return (
    typeof o === 'object' && o !== null && typeof o.prepare === 'function' && typeof o.exec === 'function' && typeof o.pragma === 'function' && 'memory' in o
  )
}

const sqliteMigrationFile = (migrationUrl: string | undefined): { migrationFile?: SqliteFile } => {
  if (!migrationUrl) return {}
  const migrationFile = sqliteFile(migrationUrl)
  if (!migrationFile) throw new MigrationError('INVALID_OPTIONS', 'With a SQLite database, "migrationUrl" is a SQLite URL too (sqlite:path).')
  return { migrationFile }
}

/** Picks the dialect from the URL or the client's shape. */
export async function openDialect(options: MigrateOptions, config: DialectConfig, dialects: Dialects): Promise<Dialect> {
  const { url, client, migrationUrl } = options
  if (config.pooler === 'transaction' && !(client !== undefined ? isPostgresClient(client) : url && isPostgresUrl(url)))
    throw new MigrationError('INVALID_OPTIONS', "pooler: 'transaction' is for PostgreSQL connections (PgBouncer, Supabase's or Neon's poolers); this database is not one.")
  const postgresDialect = () => carried(dialects, 'postgres')
  const sqliteDialect = () => carried(dialects, 'sqlite')
  const mysqlDialect = () => carried(dialects, 'mysql')
  if (client !== undefined) {
    if (isPostgresClient(client)) return postgresDialect()({ client, ...(migrationUrl ? { migrationUrl } : {}) }, config)
    if (isSqliteClient(client)) return sqliteDialect()({ client, ...sqliteMigrationFile(migrationUrl) }, config)
    // Before mysql2: a libSQL Client has `execute` too. A remote one is refused before anything is imported.
    if (isLibsqlClient(client)) return sqliteDialect()({ libsql: localLibsql(client), ...sqliteMigrationFile(migrationUrl) }, config)
    if (isMysqlClient(client)) return mysqlDialect()({ client, ...(migrationUrl ? { migrationUrl } : {}) }, config)
    throw new MigrationError('INVALID_OPTIONS', `The "client" option takes ${ACCEPTED_CLIENTS}.`)
  }
  if (url && isPostgresUrl(url)) return postgresDialect()({ url, ...(migrationUrl ? { migrationUrl } : {}) }, config)
  if (url && isMysqlUrl(url)) return mysqlDialect()({ url, ...(migrationUrl ? { migrationUrl } : {}) }, config)
  const file = url ? sqliteFile(url) : undefined
  if (file) return sqliteDialect()({ file, ...sqliteMigrationFile(migrationUrl) }, config)
  throw new MigrationError(
    'INVALID_OPTIONS',
    url
      ? `Unsupported database URL "${url.split(':')[0]}:…": use postgres://…, mysql://…, sqlite:path, file:path or a path ending in .db, .sqlite or .sqlite3.`
      : 'Pass "url" or "client".',
  )
}
