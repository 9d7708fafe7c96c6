// Databases for the runs: PostgreSQL databases created and dropped on the server, SQLite files in a temp folder.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'

export const serverUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export function withDatabase(url, name) {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

let admin
const created = new Set()
const adminSql = () => (admin ??= postgres(serverUrl, { max: 1, onnotice: () => undefined }))

/** A new empty PostgreSQL database; `setup` statements run in it first. */
export async function freshPg(tag, setup = []) {
  const name = `bmb_${tag.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
  await adminSql().unsafe(`create database "${name}"`)
  created.add(name)
  const url = withDatabase(serverUrl, name)
  if (setup.length) {
    const sql = postgres(url, { max: 1, onnotice: () => undefined })
    for (const s of setup) await sql.unsafe(s)
    await sql.end()
  }
  return { url, name }
}

export async function dropPg(name) {
  await adminSql().unsafe(`drop database if exists "${name}" with (force)`)
  created.delete(name)
}

export async function closeAdmin() {
  for (const name of created) await dropPg(name).catch(() => undefined)
  await admin?.end({ timeout: 2 })
  admin = undefined
}

export async function pgQuery(url, text, params = []) {
  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  try {
    return await sql.unsafe(text, params)
  } finally {
    await sql.end()
  }
}

// Inside bench/ (git-ignored), so that revision modules written there resolve 'kysely' from bench/node_modules.
const tmpRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '.tmp')
mkdirSync(tmpRoot, { recursive: true })
const scratch = mkdtempSync(join(tmpRoot, 'run-'))
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }))
let fileNo = 0
/** A folder under the run's scratch folder. */
export const scratchDir = (name) => join(scratch, `${++fileNo}-${name}`)

/** A new SQLite database file (not created yet), with the `setup` statements applied when given. */
export async function freshSqlite(tag, setup = []) {
  const file = join(scratchDir(tag.replace(/[^a-z0-9]+/gi, '_')), 'app.db')
  mkdirSync(join(file, '..'), { recursive: true })
  if (setup.length) {
    const Database = (await import('better-sqlite3')).default
    const db = new Database(file)
    for (const s of setup) db.exec(s)
    db.close()
  }
  return { url: file, name: file }
}

// MySQL / MariaDB: databases created and dropped on the server (root, or a user that may create databases).
export const mysqlServerUrl = process.env.BENCH_MYSQL_URL ?? process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const mysql2 = async () => {
  const m = await import('mysql2/promise')
  return m.default ?? m
}
let myAdmin
const myCreated = new Set()
const myAdminConn = async () => (myAdmin ??= await (await mysql2()).createConnection({ uri: mysqlServerUrl }))

/** Runs one query on a connection of its own; returns the rows. */
export async function myQuery(url, text, params = []) {
  const c = await (await mysql2()).createConnection({ uri: url })
  try {
    return (await c.query(text, params))[0]
  } finally {
    await c.end()
  }
}

/** A new empty MySQL database; `setup` statements run in it first. */
export async function freshMy(tag, setup = []) {
  const name = `bmb_${tag.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`.slice(0, 64)
  await (await myAdminConn()).query(`create database \`${name}\``)
  myCreated.add(name)
  const url = withDatabase(mysqlServerUrl, name)
  for (const s of setup) await myQuery(url, s)
  return { url, name }
}

export async function dropMy(name) {
  await (await myAdminConn()).query(`drop database if exists \`${name}\``)
  myCreated.delete(name)
}

export async function closeMyAdmin() {
  if (!myAdmin) return
  for (const name of myCreated) await dropMy(name).catch(() => undefined)
  await myAdmin.end().catch(() => undefined)
  myAdmin = undefined
}
