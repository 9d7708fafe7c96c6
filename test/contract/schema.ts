// A database's schema as text, to compare two databases the way a DBA would: pg_dump --schema-only where the
// machine's pg_dump can read the server (it refuses a newer major version), else a catalog listing; SQLite's
// sqlite_schema. Also: applying a script as the tool's users do by hand (psql -v ON_ERROR_STOP=1).
import { execFileSync, spawnSync } from 'node:child_process'
import Database from 'better-sqlite3'
import postgres from 'postgres'
import mysql from 'mysql2/promise'
import { pgSchemaSnapshot } from '../../src/dialects/postgres-schema.js'

const has = (bin: string) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0
const major = (text: string) => Number(/(\d+)(?:\.\d+)?/.exec(text)?.[1])

/**
 * `exclude`: tables left out (history tables of one tool or another), by name or `schema.name`; a schema that
 * holds only excluded tables is left out with them.
 */
export async function pgSchema(url: string, exclude: string[] = []): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  try {
    const [{ v }] = await sql<[{ v: string }]>`select current_setting('server_version_num') as v`
    const server = Math.floor(Number(v) / 10000)
    if (has('pg_dump') && major(execFileSync('pg_dump', ['--version'], { encoding: 'utf8' })) >= server) {
      const dump = execFileSync('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', url], { encoding: 'utf8' })
      return dumpWithout(dump, exclude)
    }
    const lines = await pgSchemaSnapshot(((text: string, params: never[] = []) => sql.unsafe(text, params)) as never, '-', '-')
    return lines.filter((l) => !exclude.some((t) => mentions(l, t))).join('\n')
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** pg_dump's blocks (each headed `-- Name: …; Type: …; Schema: …`) minus those about an excluded table; no comments, no SET lines. */
function dumpWithout(dump: string, exclude: string[]): string {
  const blocks = dump.split(/\n--\n-- (?=Name: )/).slice(1)
  return blocks
    .filter((b) => !exclude.some((t) => mentions(b, t)))
    .map((b) => b.split('\n').filter((l) => l && !l.startsWith('--') && !/^(SET\b|SELECT pg_catalog\.set_config|\\(un)?restrict )/.test(l)).join('\n'))
    .filter((b) => b.trim())
    .join('\n\n')
}

/** The catalog listing of a database that only this process reaches (PGlite: no pg_dump can connect to it). */
export async function pgCatalogSchema(query: (text: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>, exclude: string[] = []): Promise<string> {
  const lines = await pgSchemaSnapshot(((text: string, params?: unknown[]) => query(text, params)) as never, '-', '-')
  return lines.filter((l) => !exclude.some((t) => mentions(l, t))).join('\n')
}

function mentions(text: string, table: string): boolean {
  const [schema, name] = table.includes('.') ? table.split('.') : [undefined, table]
  const word = (w: string) => new RegExp(`(^|[\\s."(])"?${w.replace(/[$*]/g, (c) => `\\${c}`)}"?($|[\\s.;,)"(:])`, 'm')
  if (name === '*') return word(schema!).test(text) && /\bSchema: |CREATE SCHEMA|schema /.test(text)
  return word(name!).test(text) && (!schema || word(schema).test(text))
}

export function sqliteSchema(file: string, exclude: string[] = []): string {
  const db = new Database(file, { readonly: true })
  try {
    const rows = db.prepare("select type, name, tbl_name, sql from sqlite_schema where name not like 'sqlite\\_%' escape '\\' order by type, name").all() as Array<{
      type: string
      name: string
      tbl_name: string
      sql: string | null
    }>
    return rows
      .filter((r) => !exclude.includes(r.tbl_name))
      .map((r) => `${r.type} ${r.name}: ${r.sql ?? ''}`)
      .join('\n')
  } finally {
    db.close()
  }
}

/** Runs a SQL file as its users run it by hand: psql -v ON_ERROR_STOP=1 -f, where psql is installed (else one exec). */
export async function pgApplyFile(url: string, file: string, text: string): Promise<void> {
  if (has('psql')) {
    const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-f', file], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`psql -f ${file} failed: ${r.stderr}`)
    return
  }
  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  try {
    await sql.unsafe(text)
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** MySQL/MariaDB: SHOW CREATE of every table, view, trigger and routine, as mysqldump --no-data would list them; AUTO_INCREMENT counters left out. */
export async function mySchema(url: string, exclude: string[] = []): Promise<string> {
  const c = await mysql.createConnection(url)
  try {
    const [tables] = await c.query<mysql.RowDataPacket[]>('select table_name as name, table_type as type from information_schema.tables where table_schema = database() order by table_name')
    const out: string[] = []
    for (const t of tables) {
      if (exclude.includes(String(t.name))) continue
      const [[row]] = await c.query<mysql.RowDataPacket[]>(`show create ${t.type === 'VIEW' ? 'view' : 'table'} \`${t.name}\``)
      out.push(String(row!['Create Table'] ?? row!['Create View']).replace(/ AUTO_INCREMENT=\d+/, ''))
    }
    const [triggers] = await c.query<mysql.RowDataPacket[]>('select trigger_name as name, event_object_table as tbl, action_statement as body from information_schema.triggers where trigger_schema = database() order by trigger_name')
    for (const t of triggers) if (!exclude.includes(String(t.tbl))) out.push(`trigger ${t.name} on ${t.tbl}: ${t.body}`)
    const [routines] = await c.query<mysql.RowDataPacket[]>('select routine_type as type, routine_name as name, routine_definition as body from information_schema.routines where routine_schema = database() order by routine_name')
    for (const r of routines) out.push(`${String(r.type).toLowerCase()} ${r.name}: ${r.body}`)
    return out.join('\n\n')
  } finally {
    await c.end()
  }
}

/**
 * Runs a SQL file as one multi-statement query: the server parses it, so trigger and routine bodies need no
 * DELIMITER (the mariadb/mysql client would). `client: true` uses the mariadb (or mysql) command-line client.
 */
export async function myApplyFile(url: string, file: string, text: string, client = false): Promise<void> {
  const cli = client ? ['mariadb', 'mysql'].find(has) : undefined
  if (cli) {
    const u = new URL(url)
    const args = ['-h', u.hostname, '-P', u.port || '3306', '-u', decodeURIComponent(u.username), ...(u.password ? [`-p${decodeURIComponent(u.password)}`] : []), u.pathname.slice(1)]
    const r = spawnSync(cli, args, { input: text, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${cli} < ${file} failed: ${r.stderr}`)
    return
  }
  const c = await mysql.createConnection({ uri: url, multipleStatements: true })
  try {
    await c.query(text)
  } finally {
    await c.end()
  }
}
