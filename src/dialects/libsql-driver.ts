import type { SqliteDriver } from './sqlite-driver.js'
import { loadBetterSqlite3 } from './sqlite-driver.js'
import { driverOf, driverMissing } from './driver.js'

interface LibsqlStatement {
  all(...params: unknown[]): unknown[]
  raw(on?: boolean): { get(...params: unknown[]): unknown[] | undefined }
}
type LibsqlDatabase = new (path: string, options?: object) => { prepare(sql: string): LibsqlStatement }

/**
 * The connection that migrates a libSQL file, opened with `libsql`, the native driver under `@libsql/client` (an app
 * on libSQL has it without installing anything else): its `Database` has better-sqlite3's synchronous API, which the
 * SQLite migration connection (sqlite-connection.ts) is written against, save that `pragma(…, { simple: true })`
 * returns a row with timing metadata instead of the value, so that one method is put right here. Where `libsql`
 * cannot be imported (a layout such as pnpm's that hides a dependency's dependencies), better-sqlite3 serves.
 */
export async function loadLibsqlDriver(): Promise<SqliteDriver> {
  let Database: LibsqlDatabase
  try {
    Database = driverOf<LibsqlDatabase>(await import('libsql'))
  } catch (e) {
    try {
      return await loadBetterSqlite3()
    } catch {
      throw driverMissing('libsql', 'Migrating the file of an @libsql/client Client (the native driver @libsql/client installs; or better-sqlite3)', e)
    }
  }
  class Compatible extends Database {
    pragma(source: string, options: { simple?: boolean } = {}): unknown {
      const st = this.prepare(`PRAGMA ${source}`)
      return options.simple ? st.raw(true).get()?.[0] : st.all()
    }
  }
  return Compatible as unknown as SqliteDriver
}
