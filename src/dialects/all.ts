import type { Dialects } from './open.js'

/**
 * The main entry point's dialects, each imported when a run first needs it: from the published package (split
 * into chunks) a PostgreSQL service loads no SQLite or MySQL code at boot, and a bundler that splits code puts
 * each dialect in a chunk of its own. A bundle that must hold no other database's code at all imports
 * `boot-migrate/postgres` (…/sqlite, …/mysql) instead.
 */
export const ALL_DIALECTS: Dialects = {
  entry: 'boot-migrate',
  postgres: async (target, config) => (await import('./postgres.js')).postgresDialect(target, config),
  sqlite: async (target, config) => (await import('./sqlite.js')).sqliteDialect(target, config),
  mysql: async (target, config) => (await import('./mysql.js')).mysqlDialect(target, config),
}
