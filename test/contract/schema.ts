// A database's schema as text, to compare two databases the way a DBA would: pg_dump --schema-only where the
// machine's pg_dump can read the server (it refuses a newer major version), else a catalog listing; SQLite's
// sqlite_schema. Also: applying a script as the tool's users do by hand (psql -v ON_ERROR_STOP=1).
import { execFileSync, spawnSync } from 'node:child_process'
import Database from 'better-sqlite3'
import postgres from 'postgres'
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
    const lines = await pgSchemaSnapshot(sql as never, '-', '-')
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
