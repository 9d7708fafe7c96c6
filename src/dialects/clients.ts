/** The clients `client` (and a drizzle `db`'s `$client`) may be, as the error for anything else lists them. */
export const ACCEPTED_CLIENTS =
  'a postgres.js sql instance, a node-postgres (pg) Pool or Client, a PGlite instance, a better-sqlite3 Database, an @libsql/client Client (local file) or a mysql2 Pool or Connection'
