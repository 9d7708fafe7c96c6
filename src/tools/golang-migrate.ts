import { join } from 'node:path'
import { MigrationError } from '../errors.js'
import { checksumOf } from '../revisions/checksum.js'
import { readText, type Entry } from '../revisions/files.js'
import { compareIds, idKey } from '../revisions/ids.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import { parseSqlRevision } from '../revisions/sql-file.js'
import { unwrap } from './drizzle.js'
import { adoptionMismatch, castAs, selectAll, type Tool } from './tool.js'

// golang-migrate (github.com/golang-migrate/migrate v4):
// - files: source/parse.go, Regex `^([0-9]+)_(.*)\.(down|up)\.(.*)$`; the version is a uint64, one file per direction.
// - history: database/postgres/postgres.go ensureVersionTable
//     CREATE TABLE IF NOT EXISTS schema_migrations (version bigint not null primary key, dirty boolean not null)
//   in current_schema(); database/sqlite3/sqlite3.go
//     CREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool); CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version);
//   SetVersion empties the table and inserts the one current (version, dirty) row: every file whose version is <= it
//   is applied. dirty = true: a migration failed halfway; its own way out is `migrate force <version>`.
// - It keeps no checksum: a file edited after it was applied cannot be told (nor can golang-migrate tell it).

const FILE = /^([0-9]+)_(.*)\.(down|up)\.sql$/i
const OURS = /^\s*--\s*migrate:up\b/im

const RECOVERY =
  'Restore the migration files golang-migrate applied, or record what is really applied with `boot-migrate stamp <id>` (golang-migrate\'s own way: `migrate force <version>`).'

/** golang-migrate's version of a file: the number, without leading zeros (it is parsed as a uint64). */
const versionOf = (digits: string) => idKey(digits)
/** A version as a bind parameter: a number where it is exact, else its digits. */
const param = (v: string) => (Number.isSafeInteger(Number(v)) ? Number(v) : v)

function load(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] {
  const byVersion = new Map<string, { id: string; name: string; up?: string; down?: string }>()
  for (const e of entries) {
    const m = FILE.exec(e.name)
    if (!m || !(e.isFile() || e.dangling)) continue
    const [, id, name, direction] = m as unknown as [string, string, string, string]
    const file = join(dir, e.name)
    const v = versionOf(id)
    const item = byVersion.get(v) ?? { id, name }
    const d = direction.toLowerCase() as 'up' | 'down'
    if (item[d])
      throw new MigrationError('INVALID_REVISION', `${file}: a second ${d} file for version ${v} (also ${item[d]}); golang-migrate refuses that too. Give one of them a new version.`, {
        file,
      })
    item[d] = file
    byVersion.set(v, item)
  }
  const versions = [...byVersion.keys()].sort(compareIds)
  return versions.map((v, i) => {
    const it = byVersion.get(v)!
    if (!it.up)
      throw new MigrationError('INVALID_REVISION', `${it.down}: a down file without its up file (${it.id}_${it.name}.up.sql). Add the up file or remove this one.`, {
        file: it.down,
      })
    const read = (file: string) => {
      const { text } = readText(file, file)
      // The whole file is the step; boot-migrate's directives (-- migrate:no-transaction) work inside it.
      const marked = OURS.test(text)
      return parseSqlRevision(marked ? text : `-- migrate:up\n${text}`, file, syntax, marked ? 0 : -1)
    }
    const up = read(it.up)
    const down = it.down ? read(it.down).up : null
    // golang-migrate runs a file as one multi-statement Exec (one implicit transaction on PostgreSQL): a file
    // that wraps itself in BEGIN/COMMIT meant one transaction, which boot-migrate gives it.
    const body = up.transaction ? unwrap(up.up, syntax) : undefined
    const downBody = down && up.transaction ? unwrap(down, syntax) : undefined
    return {
      id: it.id,
      name: it.name,
      source: it.up,
      checksum: checksumOf(up.up.text, up.transaction),
      transaction: up.transaction,
      up: body ?? up.up,
      down: downBody ?? down,
      origin: { tool: 'golang-migrate', key: v, extra: { previous: i === 0 ? null : versions[i - 1]! } },
      ...(body ? { notice: `${it.up}: its BEGIN and COMMIT were dropped: the statements between them run in the one transaction boot-migrate wraps around the revision` } : {}),
    }
  })
}

interface GolangRow {
  version: string
  dirty: boolean
}

const truthy = (v: unknown) => v === true || v === 1 || v === '1' || v === 't' || v === 'true' || v === 1n

export const golangMigrate: Tool = {
  name: 'golang-migrate',
  /**
   * `<version>_<title>.up.sql` / `.down.sql` files that are not boot-migrate's own (a file with a
   * `-- migrate:up` line is ours, whatever its name). Reads the first such file only.
   */
  detect(dir, entries) {
    const first = entries.find((e) => e.isFile() && FILE.test(e.name))
    if (!first) return false
    try {
      return !OURS.test(readText(join(dir, first.name), first.name).text)
    } catch {
      return true
    }
  },
  load,
  history: {
    where: () => ({ table: 'schema_migrations' }),
    async read(on, at, missing) {
      const rows = await selectAll<{ version: unknown; dirty: unknown }>(on, at, missing)
      return rows && rows.map((r) => ({ version: String(r.version), dirty: truthy(r.dirty) }))
    },
    /** As golang-migrate: the one row's version and every file at or below it are applied; dirty is refused. */
    adopt(rows, revisions, at) {
      const list = rows as GolangRow[]
      if (list.length === 0) return { adopted: [], edited: [] }
      const problems: string[] = []
      const dirty = list.find((r) => r.dirty)
      if (dirty) {
        const v = dirty.version
        throw new MigrationError(
          'ADOPTION_MISMATCH',
          `Cannot take over golang-migrate's migration history (${at.display}): it is dirty at version ${v}: that migration failed halfway and golang-migrate does not know what of it was applied. Nothing was recorded. ` +
            `Look at the database, finish or undo version ${v} by hand, then run golang-migrate's \`migrate force ${v}\` (if version ${v} is now fully applied) or \`migrate force <the version before it>\` (if it is not), and boot again.`,
        )
      }
      if (list.length > 1) problems.push(`it holds ${list.length} rows (${list.map((r) => r.version).join(', ')}) where golang-migrate keeps one, the current version`)
      const current = list.map((r) => r.version).sort(compareIds).at(-1)!
      const at_ = revisions.find((r) => r.origin?.key === idKey(current))
      if (!at_ && current !== '-1') problems.push(`golang-migrate is at version ${current}, which no file in this folder has (golang-migrate itself would stop there: "no migration found for version ${current}")`)
      if (problems.length) throw adoptionMismatch('golang-migrate', at.display, problems, RECOVERY)
      return { adopted: revisions.filter((r) => r.origin && compareIds(r.origin.key, idKey(current)) <= 0), edited: [] }
    },
    recovery: RECOVERY,
    keep: {
      create: (at) =>
        at.sql.dialect !== 'sqlite'
          ? [`create table if not exists ${at.table} (version bigint not null primary key, dirty boolean not null)`]
          : [`create table if not exists ${at.table} (version uint64,dirty bool)`, `create unique index if not exists version_unique on ${at.table} (version)`],
      /**
       * golang-migrate's one row follows: up sets it to this version (unless it is already at or past it), down to the
       * previous version (no row before the first), as `migrate up` / `migrate down` would leave it.
       */
      record(at, rev, direction) {
        if (rev.origin?.tool !== 'golang-migrate') return []
        const t = at.table
        const p = at.sql.param
        const v = param(rev.origin.key)
        const no = at.sql.dialect === 'postgres' ? 'false' : '0'
        if (direction === 'up')
          return [
            [`delete from ${t} where version < ${p(1)}`, [v]],
            [`insert into ${t} (version, dirty) select ${castAs(at.sql, p(1), 'bigint')}, ${no} where not exists (select 1 from ${t})`, [v]],
          ]
        const previous = rev.origin.extra?.previous
        return [
          [`delete from ${t} where version = ${p(1)}`, [v]],
          ...(previous == null ? [] : ([[`insert into ${t} (version, dirty) select ${castAs(at.sql, p(1), 'bigint')}, ${no} where not exists (select 1 from ${t})`, [param(String(previous))]]] as Array<[string, unknown[]]>)),
        ]
      },
    },
  },
}
