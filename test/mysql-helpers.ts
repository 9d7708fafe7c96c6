// MariaDB/MySQL in tests: the run's server (test/setup/mysql.ts: TEST_MYSQL_URL, else the suite's own
// throwaway MariaDB, else none), a new database per test, and describe blocks that skip, with the
// reason in their name, when there is no server.
import mysql from 'mysql2/promise'
import { afterAll, describe, inject } from 'vitest'

/** The run's MariaDB/MySQL URL (root, database `test`), or undefined when there is none. */
export const mysqlUrl = (): string | undefined => inject('mysqlUrl')

/** Why there is no MariaDB/MySQL server (printed once by the global setup), or undefined. */
export const mysqlSkipReason = (): string | undefined => inject('mysqlSkipReason')

/** The URL with another database in its path. */
export const withMysqlDatabase = (url: string, db: string) => {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

const serverUrl = () => {
  const url = mysqlUrl()
  if (!url) throw new Error(`no MariaDB/MySQL server for this run: ${mysqlSkipReason() ?? 'unknown reason'}`)
  return url
}

let admin: mysql.Connection | undefined
const created: string[] = []
const clients: mysql.Connection[] = []
afterAll(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => c.destroy())
  if (!admin) return
  for (const db of created.splice(0)) await admin.query(`drop database if exists \`${db}\``).catch(() => undefined)
  await admin.end().catch(() => undefined)
  admin = undefined
})

/** A new empty database on the run's server, dropped after the file's tests; its URL. */
export async function freshMysqlDatabase(): Promise<string> {
  admin ??= await mysql.createConnection(serverUrl())
  const name = `bm_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await admin.query(`create database \`${name}\``)
  created.push(name)
  return withMysqlDatabase(serverUrl(), name)
}

/** A mysql2/promise connection for checks; closed after the file's tests. */
export async function mysqlClient(url: string, options: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ uri: url, ...options })
  clients.push(c)
  return c
}

/**
 * describe() when the run has a MariaDB/MySQL server, else describe.skip() with the reason in the
 * block's name (the global setup prints it once for the run).
 */
export function describeMysql(name: string, fn: () => void): void {
  if (mysqlUrl()) describe(name, fn)
  else describe.skip(`${name} (skipped: ${mysqlSkipReason() ?? 'no MariaDB/MySQL server'})`, fn)
}
