import type { Database } from 'better-sqlite3'
import { MigrationError } from '../errors.js'
import type { MigrateOptions } from '../types.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { isMysqlClient, mysqlDialect } from './mysql.js'
import { postgresDialect } from './postgres.js'
import { isPostgresJs, postgresJsDriver, type AnySql } from './pg-driver/postgres-js.js'
import { isNodePgClient, isNodePgPool, nodePgDriver } from './pg-driver/node-postgres.js'
import { isPGlite, pgliteDriver } from './pg-driver/pglite.js'
import { ACCEPTED_CLIENTS } from './clients.js'
import { sqliteDialect } from './sqlite.js'
import { sqliteFile, type SqliteFile } from './sqlite-url.js'

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
export async function openDialect(options: MigrateOptions, config: DialectConfig): Promise<Dialect> {
  const { url, client, migrationUrl } = options
  if (client !== undefined) {
    if (isPostgresJs(client)) return postgresDialect(await postgresJsDriver({ client: client as AnySql, ...(migrationUrl ? { migrationUrl } : {}) }, config), config)
    if (isNodePgPool(client) || isNodePgClient(client)) return postgresDialect(nodePgDriver({ client, ...(migrationUrl ? { migrationUrl } : {}) }, config), config)
    if (isPGlite(client)) {
      if (migrationUrl) throw new MigrationError('INVALID_OPTIONS', 'A PGlite instance is reachable only through itself: "migrationUrl" does not apply to it.')
      return postgresDialect(pgliteDriver(client), config)
    }
    if (isSqliteClient(client)) return sqliteDialect({ client, ...sqliteMigrationFile(migrationUrl) }, config)
    if (isMysqlClient(client)) return mysqlDialect({ client, ...(migrationUrl ? { migrationUrl } : {}) }, config)
    throw new MigrationError('INVALID_OPTIONS', `The "client" option takes ${ACCEPTED_CLIENTS}.`)
  }
  if (url && isPostgresUrl(url)) return postgresDialect(await postgresJsDriver({ url, ...(migrationUrl ? { migrationUrl } : {}) }, config), config)
  if (url && isMysqlUrl(url)) return mysqlDialect({ url, ...(migrationUrl ? { migrationUrl } : {}) }, config)
  const file = url ? sqliteFile(url) : undefined
  if (file) return sqliteDialect({ file, ...sqliteMigrationFile(migrationUrl) }, config)
  throw new MigrationError(
    'INVALID_OPTIONS',
    url
      ? `Unsupported database URL "${url.split(':')[0]}:…": use postgres://…, mysql://…, sqlite:path, file:path or a path ending in .db, .sqlite or .sqlite3.`
      : 'Pass "url" or "client".',
  )
}
