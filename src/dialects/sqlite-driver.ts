import type BetterSqlite3 from 'better-sqlite3'
import type { Database } from 'better-sqlite3'
import { driverMissing, driverOf } from './driver.js'

export type SqliteDriver = typeof BetterSqlite3

/** See driver.ts: literal specifiers, each import inside its own try. */
export async function loadBetterSqlite3(): Promise<SqliteDriver> {
  try {
    return driverOf<SqliteDriver>(await import('better-sqlite3'))
  } catch (e) {
    throw driverMissing('better-sqlite3', 'SQLite', e)
  }
}

/** drizzle-orm's better-sqlite3 adapter, for the `db` a function revision gets when the app passed a drizzle database. */
export async function loadDrizzleSqlite(): Promise<{ drizzle(c: Database, o: object): unknown }> {
  try {
    return (await import('drizzle-orm/better-sqlite3')) as unknown as { drizzle(c: Database, o: object): unknown }
  } catch (e) {
    throw driverMissing('drizzle-orm/better-sqlite3', 'A drizzle database on better-sqlite3', e)
  }
}
