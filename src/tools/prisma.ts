import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { MigrationError } from '../errors.js'
import { checksumOf } from '../revisions/checksum.js'
import { readText, type Entry } from '../revisions/files.js'
import type { Revision, Step } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import { parseSqlRevision } from '../revisions/sql-file.js'
import { transactionControl } from '../revisions/transaction-control.js'
import { adoptionMismatch, selectAll, type Edited, type Tool } from './tool.js'

// Prisma Migrate (https://www.prisma.io/docs/orm/prisma-migrate/understanding-prisma-migrate/migration-histories):
// `migrations/migration_lock.toml` and one folder per migration, `<yyyyMMddHHmmss>_<name>/migration.sql`, applied in
// the order of the folder names; the whole file is the migration, and there are no down files (Prisma's docs put a
// hand-made `down.sql` next to it, https://www.prisma.io/docs/orm/prisma-migrate/workflows/generating-down-migrations,
// which Prisma itself never reads: boot-migrate reads it as the down step).
// History: `_prisma_migrations` in the connection's schema (prisma-engines, schema-engine/connectors/sql-schema-connector,
// the flavours' create_migrations_table), one row per attempt: applied = finished_at set and rolled_back_at not;
// a row with neither is a failed migration, which `prisma migrate deploy` refuses (P3009) until
// `prisma migrate resolve --applied|--rolled-back <name>`. checksum = hex sha256 of migration.sql as read
// (schema-engine/core checksum.rs, which also accepts the file with its line endings changed between LF and CRLF).

/** A row of `_prisma_migrations`. */
export interface PrismaRow {
  id: string
  checksum: string
  finished_at: unknown
  migration_name: string
  logs: string | null
  rolled_back_at: unknown
  started_at: unknown
  applied_steps_count: number
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')

/** Prisma's checksum test: the file as it is, or with its line endings changed (git may have converted them). */
export const prismaChecksumMatches = (raw: string, checksum: string) =>
  [raw, raw.replace(/\r\n/g, '\n'), raw.replace(/\r?\n/g, '\r\n')].some((s) => sha256(s) === checksum.toLowerCase())

/**
 * BEGIN … COMMIT blocks inside a whole-file migration (Prisma generates them around enum rebuilds; Supabase users write
 * them): the tool runs the file as one script, each block committing what came before it, so the author meant the file
 * to apply as a whole. They are dropped and every statement runs in the one transaction boot-migrate wraps around the
 * revision. Anything else steering transactions (ROLLBACK, COMMIT AND CHAIN, unpaired blocks) is left for validation to refuse.
 */
export function dropTransactionBlocks(step: Step, syntax: SqlSyntax): Step | undefined {
  if (step.kind !== 'sql') return undefined
  const kinds = step.statements.map((s) => transactionControl(s.text, syntax))
  if (!kinds.some(Boolean)) return undefined
  let open = false
  for (const k of kinds) {
    if (!k) continue
    if (k.kind === 'begin' && !open) open = true
    else if (k.kind === 'commit' && open && !/\bCHAIN\b/.test(k.keyword)) open = false
    else return undefined
  }
  if (open) return undefined
  return { ...step, statements: step.statements.filter((_, i) => !kinds[i]) }
}

/** Reads a whole-file migration (Prisma, Supabase): the file is the up step; boot-migrate directives work inside it. */
export function wholeFile(file: string, syntax: SqlSyntax, tool: string) {
  const { text, raw } = readText(file, file)
  const marked = /^\s*--\s*migrate:up\b/im.test(text)
  const parsed = parseSqlRevision(marked ? text : `-- migrate:up\n${text}`, file, syntax, marked ? 0 : -1)
  const body = parsed.transaction ? dropTransactionBlocks(parsed.up, syntax) : undefined
  return {
    raw,
    parsed,
    up: body ?? parsed.up,
    notice: body
      ? `${file}: its BEGIN and COMMIT lines were dropped: its statements run in the one transaction boot-migrate wraps around the revision, as ${tool} ran the file as one script`
      : undefined,
  }
}

const isMigrationFolder = (e: Entry) => e.isDirectory()

function load(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] {
  // Prisma reads every folder, in the order of their names (its migration ids); files beside them are not migrations.
  const folders = entries.filter(isMigrationFolder).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return folders.map((f) => {
    const file = join(dir, f.name, 'migration.sql')
    if (!existsSync(file))
      throw new MigrationError(
        'INVALID_REVISION',
        `${join(dir, f.name)}: a Prisma migration folder holds a migration.sql, this one does not. Restore it, or move the folder out of ${dir}.`,
        { file },
      )
    const downFile = join(dir, f.name, 'down.sql')
    const { raw, parsed, up, notice } = wholeFile(file, syntax, 'Prisma')
    const down = parsed.down ?? (existsSync(downFile) ? parseSqlRevision(`-- migrate:up\n${readText(downFile, downFile).text}`, downFile, syntax, -1).up : null)
    const m = /^\d+_(.+)$/.exec(f.name)
    return {
      // The folder name is Prisma's migration id (`migration_name`): ours too, so `stamp`, `down --to` and the
      // history name the same thing Prisma does.
      id: f.name,
      name: m ? m[1]! : f.name,
      source: file,
      checksum: checksumOf(parsed.up.text, parsed.transaction),
      transaction: parsed.transaction,
      up,
      down,
      origin: { tool: 'prisma', key: f.name, hash: sha256(raw), extra: { raw } },
      ...(notice ? { notice } : {}),
    }
  })
}

const resolveHint = (name: string) =>
  `run "npx prisma migrate resolve --applied ${name}" if its changes are in the database, or "npx prisma migrate resolve --rolled-back ${name}" if they are not (boot-migrate then applies it)`

const RECOVERY =
  'Restore the migration folders Prisma applied, settle a failed migration with `prisma migrate resolve` as Prisma itself requires, or record what is really applied with `boot-migrate stamp <id>`.'

/** The database's error in Prisma's log of a failed migration (after its "Database error:" line), else its first line. */
function firstError(logs: string): string {
  const lines = logs.split('\n').map((l) => l.trim())
  const at = lines.findIndex((l) => /^Database error:$/i.test(l))
  const line = (at >= 0 ? lines.slice(at + 1) : lines).find((l) => l && !/^Migration name:/i.test(l)) ?? ''
  return line.slice(0, 200)
}

const applied = (r: PrismaRow) => r.finished_at != null && r.rolled_back_at == null
const failed = (r: PrismaRow) => r.finished_at == null && r.rolled_back_at == null

/** `now()` as Prisma stores it: timestamptz on PostgreSQL, DATETIME(3) on MySQL, Unix milliseconds on SQLite (quaint writes a DateTime that way). */
const now = (dialect: string) =>
  dialect === 'postgres' ? 'now()' : dialect === 'mysql' ? 'current_timestamp(3)' : "cast((julianday('now') - 2440587.5) * 86400000 as integer)"

export const prisma: Tool = {
  name: 'prisma',
  // migration_lock.toml is what tells Prisma's folders from drizzle-kit 1.0's look-alike ones.
  detect: (_dir, entries) => entries.some((e) => e.name === 'migration_lock.toml' && e.isFile()),
  load,
  history: {
    // Prisma's table lives in the schema the connection works in (the URL's ?schema=, public by default).
    where: () => ({ table: '_prisma_migrations' }),
    read: (on, at, missing) => selectAll<PrismaRow>(on, at, missing),
    /**
     * As `prisma migrate deploy`: a migration is applied when a row of its name finished and was not rolled back; a
     * failed row is refused with Prisma's own way out; rolled-back rows are history only. Prisma applies a migration
     * again only by name, so a changed file is adopted (and reported); a finished row with no folder is refused.
     */
    adopt(rows, revisions, at) {
      const problems: string[] = []
      const edited: Edited[] = []
      const byName = new Map<string, PrismaRow[]>()
      for (const row of rows as PrismaRow[]) byName.set(row.migration_name, [...(byName.get(row.migration_name) ?? []), row])
      const adopted = new Set<Revision>()
      for (const [name, list] of byName) {
        const rev = revisions.find((r) => r.origin?.tool === 'prisma' && r.origin.key === name)
        if (list.some(failed)) {
          const row = list.find(failed)!
          const log = row.logs ? `: ${firstError(row.logs)}` : ''
          problems.push(`${name} failed when Prisma applied it (not finished, not rolled back${log}); ${resolveHint(name)}`)
          continue
        }
        const done = list.filter(applied)
        if (!done.length) continue
        if (!rev) {
          problems.push(`Prisma applied ${name}, which this folder does not have`)
          continue
        }
        adopted.add(rev)
        const raw = rev.origin!.extra!.raw as string
        if (!done.some((r) => prismaChecksumMatches(raw, r.checksum))) edited.push({ revision: rev, stored: done[done.length - 1]!.checksum, today: rev.origin!.hash! })
      }
      if (problems.length) throw adoptionMismatch('Prisma', at.display, problems, RECOVERY)
      return { adopted: revisions.filter((r) => adopted.has(r)), edited }
    },
    recovery: RECOVERY,
    keep: {
      // Prisma's own DDL (sql-schema-connector flavour/postgres.rs, flavour/mysql.rs and flavour/sqlite.rs, create_migrations_table).
      create: (at) =>
        at.sql.dialect === 'mysql'
          ? [
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
            ]
          : at.sql.dialect === 'postgres'
          ? [
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`,
            ]
          : [
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
            ],
      /**
       * Up: the row `prisma migrate deploy` leaves after applying a migration (a uuid, the checksum, started and finished
       * now, one step), unless one already says it is applied. Down: the applied rows are marked rolled back, which is
       * how Prisma records a migration that is no longer applied (it applies it again on its next deploy).
       */
      record(at, rev, direction) {
        if (rev.origin?.tool !== 'prisma') return []
        const t = at.table
        const p = at.sql.param
        const name = rev.origin.key
        const ts = now(at.sql.dialect)
        if (direction === 'down')
          return [[`update ${t} set rolled_back_at = ${ts} where migration_name = ${p(1)} and finished_at is not null and rolled_back_at is null`, [name]]]
        return [
          [
            `insert into ${t} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) ` +
              `select ${p(1)}, ${p(2)}, ${ts}, ${p(3)}, null, null, ${ts}, 1 ` +
              `where not exists (select 1 from ${t} where migration_name = ${p(4)} and finished_at is not null and rolled_back_at is null)`,
            [randomUUID(), rev.origin.hash!, name, name],
          ],
        ]
      },
    },
  },
}
