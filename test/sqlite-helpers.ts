import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll } from 'vitest'

const dirs: string[] = []
const dbs: Database.Database[] = []
afterAll(async () => {
  for (const db of dbs) if (db.open) db.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** A new temp folder, removed after the file's tests. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-sqlite-'))
  dirs.push(dir)
  return dir
}

/** A path for a database file that does not exist yet, in a temp folder. */
export const freshFile = async (name = 'app.db') => join(await tempDir(), name)

/** A better-sqlite3 connection for checks, closed after the file's tests. */
export function open(file: string, options: Database.Options = {}): Database.Database {
  const db = new Database(file, options)
  dbs.push(db)
  return db
}

/** A connection that counts the statements it runs, as an app's own connection would be handed to migrate(). */
export function counting(file: string): { db: Database.Database; statements: string[] } {
  const statements: string[] = []
  const db = open(file, { verbose: (s) => void statements.push(String(s)) })
  return { db, statements }
}

export const tables = (db: Database.Database) =>
  (db.prepare("select name from sqlite_master where type = 'table' order by name").pluck().all() as string[]).filter((n) => !n.startsWith('sqlite_'))
