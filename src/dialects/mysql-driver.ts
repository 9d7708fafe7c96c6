import { driverMissing } from './driver.js'

/** drizzle-orm's mysql2 adapter, for the `db` a function revision gets when the app passed a drizzle database (mysql2 itself: mysql.ts). */
export async function loadDrizzleMysql(): Promise<{ drizzle(c: unknown, o: object): unknown }> {
  try {
    return (await import('drizzle-orm/mysql2')) as unknown as { drizzle(c: unknown, o: object): unknown }
  } catch (e) {
    throw driverMissing('drizzle-orm/mysql2', 'A drizzle database on mysql2', e)
  }
}
