import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MigrationError, messageOf } from '../errors.js'
import { checksumOf } from '../revisions/checksum.js'
import { readText, type Entry } from '../revisions/files.js'
import { label, type Revision, type Step } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import { parseSqlRevision } from '../revisions/sql-file.js'
import { transactionControl } from '../revisions/transaction-control.js'
import { adoptionMismatch, selectAll, type Edited, type Tool } from './tool.js'

// drizzle-kit's layouts and drizzle-orm's migrator (drizzle-orm/migrator.js readMigrationFiles, pg-core/dialect.js migrate):
// 0.x: meta/_journal.json lists { idx, when, tag }, each <tag>.sql is applied when its `when` (folderMillis) is newer than
// the newest created_at in __drizzle_migrations; the row stores sha256(file) and created_at = when.
// 1.0: <yyyyMMddHHmmss>_<name>/migration.sql, the row also stores the folder name, which is its identity.

interface JournalEntry {
  idx: number
  when: number
  tag: string
}

/** A row of drizzle's `__drizzle_migrations`: 0.x matches by timestamp, 1.0 by folder name. */
export interface DrizzleRow {
  hash: string
  createdAt: number
  name: string | null
}

const isV1Folder = (dir: string, e: Entry) => e.isDirectory() && /^\d{14}/.test(e.name) && existsSync(join(dir, e.name, 'migration.sql'))

/** drizzle-kit 1.0 folder names start with UTC yyyyMMddHHmmss, which its migrator records as milliseconds. */
const folderMillis = (name: string) =>
  Date.UTC(+name.slice(0, 4), +name.slice(4, 6) - 1, +name.slice(6, 8), +name.slice(8, 10), +name.slice(10, 12), +name.slice(12, 14))

/** What drizzle's history records of a revision of ours. */
const drizzleOf = (r: Revision) =>
  r.origin?.tool === 'drizzle' ? { hash: r.origin.hash!, when: Number(r.origin.extra!.when), name: (r.origin.extra!.name as string | null) ?? null } : undefined

/**
 * A `BEGIN; … COMMIT;` around the whole file (drizzle-kit `--custom` migrations, written by hand): drizzle runs
 * it inside its own transaction, so its author meant one transaction. The wrapper is dropped and the body runs
 * in boot-migrate's; the file (and drizzle's hash of it) stays as written.
 */
export function unwrap(step: Step, syntax: SqlSyntax): Step | undefined {
  // Most files cannot be wrapped: told from their first word without splitting them (the split waits until they run).
  if (step.kind !== 'sql' || !mayBeginTransaction(step.text) || step.statements.length < 2) return undefined
  const first = transactionControl(step.statements[0]!.text, syntax)
  const last = transactionControl(step.statements[step.statements.length - 1]!.text, syntax)
  if (first?.kind !== 'begin' || last?.kind !== 'commit' || /\bCHAIN\b/.test(last.keyword)) return undefined
  const body = step.statements.slice(1, -1)
  if (body.some((s) => transactionControl(s.text, syntax)?.kind === 'begin' || transactionControl(s.text, syntax)?.kind === 'commit')) return undefined
  return { ...step, statements: body }
}

/**
 * False when the text's first word (after blank space and `--` comments) is a letter word other than BEGIN or
 * START: such a file does not open with a transaction. Anything less plain (a block comment first) is a maybe.
 */
function mayBeginTransaction(text: string): boolean {
  const m = /^(?:\s|--[^\n]*(?:\n|$))*([A-Za-z]+)?/.exec(text)
  const word = m?.[1]
  return word === undefined || /^(?:begin|start)$/i.test(word)
}

/**
 * Reads a drizzle-kit folder. Each SQL file is the up step (`--> statement-breakpoint` lines are
 * comments to our splitter); boot-migrate directives work inside it, and a down script sits in a
 * `-- migrate:down` section or in a side file `<tag>.down.sql` (0.x) / `down.sql` (1.0). Each
 * revision keeps drizzle's own hash and timestamp, to adopt and keep drizzle's history table.
 */
function load(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] {
  const journalPath = join(dir, 'meta', '_journal.json')
  const items: Array<{ id: string; name: string; file: string; downFile: string; when: number; drizzleName: string | null }> = []
  if (existsSync(journalPath)) {
    let journal: JournalEntry[]
    try {
      journal = (JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: JournalEntry[] }).entries
    } catch (e) {
      throw new MigrationError('INVALID_REVISION', `${journalPath}: not a drizzle-kit journal: ${messageOf(e)}`, { file: journalPath, cause: e })
    }
    for (const e of journal) {
      const m = /^(\d+)_?(.*)$/.exec(e.tag)
      items.push({
        id: m ? m[1]! : String(e.idx).padStart(4, '0'),
        name: m?.[2] || e.tag,
        file: join(dir, `${e.tag}.sql`),
        downFile: join(dir, `${e.tag}.down.sql`),
        when: e.when,
        drizzleName: null,
      })
    }
  } else {
    const folders = entries.filter((e) => isV1Folder(dir, e))
    for (const f of folders.sort((a, b) => a.name.localeCompare(b.name))) {
      const m = /^(\d{14})_?(.*)$/.exec(f.name)
      if (!m) throw new MigrationError('INVALID_REVISION', `${join(dir, f.name)}: a drizzle-kit 1.0 folder name starts with a 14-digit timestamp`, { file: join(dir, f.name) })
      // drizzle-kit 1.0 names folders to the second, so two can share a timestamp: the folder name is the identity, as in drizzle.
      items.push({ id: f.name, name: m[2] || m[1]!, file: join(dir, f.name, 'migration.sql'), downFile: join(dir, f.name, 'down.sql'), when: folderMillis(f.name), drizzleName: f.name })
    }
  }
  return items.map((it) => {
    if (!existsSync(it.file)) throw new MigrationError('INVALID_REVISION', `${it.file}: listed by drizzle-kit (meta/_journal.json) but missing`, { file: it.file })
    // UTF-8 only; `raw` keeps a byte-order mark for drizzle's own hash, computed over the file as drizzle reads it.
    const { text, raw } = readText(it.file, it.file)
    // The whole file is the up step unless it marks its sections itself.
    const marked = /^\s*--\s*migrate:up\b/im.test(text)
    const parsed = parseSqlRevision(marked ? text : `-- migrate:up\n${text}`, it.file, syntax, marked ? 0 : -1)
    const sideDown = existsSync(it.downFile) ? parseSqlRevision(`-- migrate:up\n${readText(it.downFile, it.downFile).text}`, it.downFile, syntax, -1).up : null
    const body = parsed.transaction ? unwrap(parsed.up, syntax) : undefined
    let hash: string | undefined
    return {
      id: it.id,
      name: it.name,
      source: it.file,
      checksum: checksumOf(parsed.up.text, parsed.transaction),
      transaction: parsed.transaction,
      up: body ?? parsed.up,
      down: parsed.down ?? sideDown,
      origin: {
        tool: 'drizzle',
        key: it.drizzleName ?? String(it.when),
        // Read when drizzle's history is adopted or kept, not on a boot at head: hashed then.
        get hash() {
          return (hash ??= createHash('sha256').update(raw).digest('hex'))
        },
        extra: { when: it.when, name: it.drizzleName },
      },
      ...(body
        ? { notice: `${it.file}: its BEGIN and COMMIT were dropped: the statements between them run in the one transaction boot-migrate wraps around the revision, as drizzle ran them` }
        : {}),
    }
  })
}

const RECOVERY = 'Restore the files drizzle applied, or record what is really applied with `boot-migrate stamp <id>`.'

export const drizzle: Tool = {
  name: 'drizzle',
  // The 0.x layout (meta/_journal.json), or the 1.0 one (<timestamp>_<name>/migration.sql) unless Prisma's
  // migration_lock.toml says the same-looking folders are Prisma Migrate's.
  detect: (dir, entries) =>
    existsSync(join(dir, 'meta', '_journal.json')) || (!entries.some((e) => e.name === 'migration_lock.toml') && entries.some((e) => isV1Folder(dir, e))),
  load,
  history: {
    where: (settings) => ({ schema: settings.drizzle.schema, table: settings.drizzle.table }),
    async read(on, at, missing) {
      const rows = await selectAll<{ hash: string; created_at: string | number | null; name?: string | null }>(on, at, missing)
      return rows && rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at), name: r.name ?? null }))
    },
    /**
     * As drizzle's migrator: an applied migration is known by its timestamp (0.x) or folder name (1.0), never by
     * re-hashing the file. A file changed since is adopted and reported; a row matching no file is refused.
     */
    adopt(rows, revisions, at) {
      const adopted = new Set<Revision>()
      const edited: Edited[] = []
      const problems: string[] = []
      for (const row of rows as DrizzleRow[]) {
        const same = revisions.find((r) => {
          const d = drizzleOf(r)
          return d && (row.name ? d.name === row.name : d.when === row.createdAt)
        })
        const sameHash = revisions.find((r) => drizzleOf(r)?.hash === row.hash)
        if (same) {
          if (!adopted.has(same) && drizzleOf(same)!.hash !== row.hash) edited.push({ revision: same, stored: row.hash, today: drizzleOf(same)!.hash })
          adopted.add(same)
        } else if (sameHash) problems.push(`${label(sameHash)} (${sameHash.source}) matches an applied hash but not its timestamp ${row.createdAt}`)
        else problems.push(`drizzle applied a migration that this folder does not have (hash ${row.hash.slice(0, 12)}…, created_at ${row.createdAt}${row.name ? `, ${row.name}` : ''})`)
      }
      if (problems.length) throw adoptionMismatch('drizzle', at.display, problems, RECOVERY)
      return { adopted: revisions.filter((r) => adopted.has(r)), edited }
    },
    recovery: RECOVERY,
    keep: {
      // drizzle's own DDL for its table (drizzle-orm pg-core/dialect.js, sqlite-core/dialect.js migrate()).
      create: (at) =>
        at.sql.dialect === 'postgres'
          ? [...(at.schema ? [`create schema if not exists ${at.schema}`] : []), `create table if not exists ${at.table} (id serial primary key, hash text not null, created_at bigint)`]
          : at.sql.dialect === 'mysql'
          ? [`create table if not exists ${at.table} (id serial primary key, hash text not null, created_at bigint)`]
          : [`create table if not exists ${at.table} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`],
      /** Idempotent, so adoption can repeat it; by drizzle's identity (created_at, 1.0 folder name), so an edited file is not recorded twice. */
      record(at, rev, direction) {
        const d = drizzleOf(rev)
        if (!d) return []
        const { hash, when, name } = d
        const t = at.table
        const p = at.sql.param
        if (direction === 'down') return [name ? [`delete from ${t} where name = ${p(1)}`, [name]] : [`delete from ${t} where created_at = ${p(1)}`, [when]]]
        return [
          name
            ? [`insert into ${t} (hash, created_at, name) select ${p(1)}, ${p(2)}, ${p(3)} where not exists (select 1 from ${t} where name = ${p(4)})`, [hash, when, name, name]]
            : [`insert into ${t} (hash, created_at) select ${p(1)}, ${p(2)} where not exists (select 1 from ${t} where created_at = ${p(3)})`, [hash, when, when]],
        ]
      },
    },
  },
}
