import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { MigrationError } from '../errors.js'
import { checksumOf } from '../revisions/checksum.js'
import type { Entry } from '../revisions/files.js'
import type { Revision } from '../revisions/revision.js'
import { splitStatements, type SqlSyntax } from '../revisions/split.js'
import { wholeFile } from './prisma.js'
import { adoptionMismatch, type Edited, type Tool } from './tool.js'

// Supabase CLI (https://supabase.com/docs/reference/cli/supabase-migration-new, .../supabase-db-push):
// `supabase/migrations/<version>_<name>.sql`, version a UTC yyyyMMddHHmmss timestamp (the CLI reads any digits,
// pkg/migration/file.go `^([0-9]+)_(.*)\.sql$`), the whole file is the migration and there is no down file. Each file's
// statements and its history row go to the server in one batch (one transaction). History (pkg/migration/history.go):
// `supabase_migrations.schema_migrations (version text primary key, statements text[], name text)`, newer CLIs add
// columns (read with `select *`); a row is an applied migration; `supabase migration repair --status reverted` deletes it.
// PostgreSQL only. Checked against the real CLI (`supabase migration up --db-url`) by test/contract/takeover-supabase.test.ts.

const FILE = /^(\d+)_(.*)\.sql$/i
const TIMESTAMPED = /^\d{14}_.+\.sql$/i
const MARKED = /^\s*--\s*(?:migrate:up|\+goose\s+up)\b/im

/** A row of `supabase_migrations.schema_migrations`. */
export interface SupabaseRow {
  version: string
  name: string | null
  statements: string[] | null
}

/** The folder is `supabase/migrations`, or its parent holds the CLI's config.toml (`supabase init` writes project_id in it). */
function isSupabaseFolder(dir: string): boolean {
  const abs = resolve(dir)
  if (basename(abs) === 'migrations' && basename(dirname(abs)) === 'supabase') return true
  const config = join(dirname(abs), 'config.toml')
  try {
    return existsSync(config) && /^\s*project_id\s*=/m.test(readFileSync(config, 'utf8'))
  } catch {
    return false
  }
}

/** What a statement list is, whoever split it: our splitter's texts (leading comments dropped), hashed. */
const statementsHash = (statements: string[], syntax: SqlSyntax) =>
  createHash('sha256')
    .update(
      splitStatements(statements.join('\n;\n'), syntax)
        .map((s) => s.text)
        .join('\n;\n'),
    )
    .digest('hex')

const PG: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }

function load(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] {
  const files = entries.filter((e) => e.isFile() && /\.sql$/i.test(e.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return files.map((f) => {
    const file = join(dir, f.name)
    const m = FILE.exec(f.name)
    // The CLI skips such a file with a warning; boot-migrate refuses it, since a file meant as a migration would never run.
    if (!m)
      throw new MigrationError(
        'INVALID_REVISION',
        `${file}: a Supabase migration is named <timestamp>_<name>.sql (supabase migration new <name> writes one); rename it, or move it out of ${dir}.`,
        { file },
      )
    const { parsed, up, notice } = wholeFile(file, syntax, 'the Supabase CLI')
    // As the CLI splits the file as written (a BEGIN/COMMIT we drop is one of its statements).
    const statements = parsed.up.statements.map((s) => s.text)
    return {
      id: m[1]!,
      name: m[2] || m[1]!,
      source: file,
      checksum: checksumOf(parsed.up.text, parsed.transaction),
      transaction: parsed.transaction,
      up,
      down: parsed.down,
      origin: { tool: 'supabase', key: m[1]!, hash: statementsHash(statements, syntax), extra: { name: m[2] ?? '', statements: JSON.stringify(statements) } },
      ...(notice ? { notice } : {}),
    }
  })
}

const RECOVERY =
  'Restore the migration files the Supabase CLI applied, remove a row that names no applied migration with `supabase migration repair --status reverted <version>`, or record what is really applied with `boot-migrate stamp <id>`.'

export const supabase: Tool = {
  name: 'supabase',
  // A timestamped .sql file in supabase/migrations (or next to the CLI's config.toml) that is not dbmate's or goose's.
  detect(dir, entries) {
    const named = entries.filter((e) => e.isFile() && TIMESTAMPED.test(e.name))
    if (!named.length || !isSupabaseFolder(dir)) return false
    return !named.some((e) => {
      try {
        return MARKED.test(readFileSync(join(dir, e.name), 'utf8'))
      } catch {
        return false
      }
    })
  },
  load,
  history: {
    where: () => ({ schema: 'supabase_migrations', table: 'schema_migrations' }),
    // The CLI works on PostgreSQL only: on SQLite there is no history of its to adopt.
    async read(on, at, missing) {
      if (at.sql.dialect !== 'postgres') return null
      // statements as JSON text: the connection may not parse text[] (postgres.js without fetch_types returns it as a string).
      let rows: Array<{ version: string; name: string | null; statements_json: string | null }>
      try {
        rows = await on.query(`select *, array_to_json(statements)::text as statements_json from ${at.table}`)
      } catch (e) {
        if (missing(e)) return null
        throw e
      }
      return rows.map((r) => ({ version: r.version, name: r.name, statements: r.statements_json === null ? null : (JSON.parse(r.statements_json) as string[]) }))
    },
    /**
     * As the CLI: a migration is applied when its version has a row. The CLI never compares files again; the row's
     * statements are, so an edited file is adopted and reported. A row with no file is refused.
     */
    adopt(rows, revisions, at) {
      const problems: string[] = []
      const edited: Edited[] = []
      const adopted = new Set<Revision>()
      for (const row of rows as SupabaseRow[]) {
        const rev = revisions.find((r) => r.origin?.tool === 'supabase' && r.origin.key === row.version)
        if (!rev) {
          problems.push(`the Supabase CLI applied ${row.version}${row.name ? `_${row.name}` : ''}, which this folder does not have`)
          continue
        }
        adopted.add(rev)
        // Rows written by `migration repair` hold no statements: nothing to compare.
        if (Array.isArray(row.statements) && row.statements.length) {
          const stored = statementsHash(row.statements, PG)
          if (stored !== rev.origin!.hash) edited.push({ revision: rev, stored, today: rev.origin!.hash! })
        }
      }
      if (problems.length) throw adoptionMismatch('the Supabase CLI', at.display, problems, RECOVERY)
      return { adopted: revisions.filter((r) => adopted.has(r)), edited }
    },
    recovery: RECOVERY,
    keep: {
      // The CLI's own DDL (pkg/migration/history.go: CREATE SCHEMA, CREATE TABLE, ADD COLUMN IF NOT EXISTS).
      create: (at) =>
        at.sql.dialect !== 'postgres'
          ? []
          : [
              `CREATE SCHEMA IF NOT EXISTS ${at.schema ?? 'supabase_migrations'}`,
              `CREATE TABLE IF NOT EXISTS ${at.table} (version text NOT NULL PRIMARY KEY)`,
              `ALTER TABLE ${at.table} ADD COLUMN IF NOT EXISTS statements text[]`,
              `ALTER TABLE ${at.table} ADD COLUMN IF NOT EXISTS name text`,
            ],
      /** Up: the row `supabase db push` inserts (version, name, statements); down: the row goes, as `migration repair --status reverted` does. */
      record(at, rev, direction) {
        if (rev.origin?.tool !== 'supabase' || at.sql.dialect !== 'postgres') return []
        const t = at.table
        const version = rev.origin.key
        if (direction === 'down') return [[`delete from ${t} where version = $1`, [version]]]
        return [
          [
            `insert into ${t} (version, name, statements) values ($1, $2, array(select json_array_elements_text($3::text::json))) on conflict (version) do nothing`,
            [version, rev.origin.extra!.name, rev.origin.extra!.statements],
          ],
        ]
      },
    },
  },
}
