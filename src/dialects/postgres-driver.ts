import { driverMissing, driverOf } from './driver.js'
import type { AnySql, PgOptions } from './pg-driver/postgres-js.js'

/** postgres.js's default export. */
export type PostgresFactory = (o: PgOptions | string, o2?: PgOptions) => AnySql

/** See driver.ts: literal specifiers, each import inside its own try. */
export async function loadPostgres(): Promise<PostgresFactory> {
  try {
    return driverOf<PostgresFactory>(await import('postgres'))
  } catch (e) {
    throw driverMissing('postgres', 'PostgreSQL', e)
  }
}

/** drizzle-orm's postgres.js adapter, for the `db` a function revision gets when the app passed a drizzle database. */
export async function loadDrizzlePostgres(): Promise<{ drizzle(c: AnySql, o: object): unknown }> {
  try {
    return (await import('drizzle-orm/postgres-js')) as unknown as { drizzle(c: AnySql, o: object): unknown }
  } catch (e) {
    throw driverMissing('drizzle-orm/postgres-js', 'A drizzle database on postgres.js', e)
  }
}
