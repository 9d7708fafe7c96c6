import { join } from 'node:path'
import { readText, type Entry } from '../revisions/files.js'
import { readOwnFolder } from '../revisions/load.js'
import { compareIds } from '../revisions/ids.js'
import { adoptionMismatch, castAs, selectAll, type Tool } from './tool.js'

// dbmate (github.com/amacneil/dbmate v2): its files are boot-migrate's own format (`-- migrate:up`, `-- migrate:down`,
// `transaction:false`), named `<version>_<name>.sql`, the version being the leading digits, kept as written
// ("0001" stays "0001"). History: pkg/driver/postgres and pkg/driver/sqlite
//     create table if not exists schema_migrations (version varchar(128) primary key)
// unqualified (the connection's search_path on PostgreSQL); one row per applied version, deleted on rollback.
// It keeps no checksum: a file edited after it was applied cannot be told (nor can dbmate tell it).
//
// Detection. A dbmate folder cannot be told from ours by its files, so every folder that dbmate could have
// run (only `<digits>_<name>.sql` revisions, each with a `-- migrate:up` line, no JS/TS modules) is read as
// dbmate's: the files mean the same either way, and a database dbmate migrated is then never migrated twice
// by a team that switches without saying so. What keeps an ordinary boot-migrate folder from misreading a
// `schema_migrations` table that is not dbmate's:
//   - it is read only on the first run on a database (no boot-migrate history table yet), like any takeover;
//   - it is adopted only with dbmate's shape (one column, `version`): golang-migrate's (version, dirty) or any
//     other is refused, never taken for dbmate's;
//   - each row must name a file of the folder, exactly as dbmate matches versions; a row that does not
//     (another framework's `schema_migrations`, Rails') refuses the takeover, changing nothing, and the
//     message says how to ignore the table: `format: 'boot-migrate'` (no takeover at all).

const SQL = /^\d+.*\.sql$/i
const MODULE = /^\d+(?:[_-].*)?\.(?:js|mjs|cjs|ts|mts|cts)$/i
const UP = /^\s*--\s*migrate:up\b/im

const RECOVERY =
  'Restore the migration files dbmate applied, or record what is really applied with `boot-migrate stamp <id>`. ' +
  "If this table is not dbmate's (another framework's schema_migrations), set format: 'boot-migrate' so that no other tool's history is read."

export const dbmate: Tool = {
  name: 'dbmate',
  detect(dir, entries) {
    const sql = entries.filter((e) => e.isFile() && SQL.test(e.name))
    if (!sql.length || entries.some((e) => MODULE.test(e.name))) return false
    try {
      return sql.every((e) => UP.test(readText(join(dir, e.name), e.name).text))
    } catch {
      return false
    }
  },
  async load(dir, entries, syntax) {
    const revisions = await readOwnFolder(dir, entries, syntax)
    return revisions.map((r) => ({ ...r, origin: { tool: 'dbmate', key: r.id } }))
  },
  history: {
    where: () => ({ table: 'schema_migrations' }),
    read: (on, at, missing) => selectAll(on, at, missing),
    /** As dbmate: a version is applied when its row is there, matched as written. */
    adopt(rows, revisions, at) {
      const list = rows as Array<Record<string, unknown>>
      const columns = list.length ? Object.keys(list[0]!).sort() : []
      if (columns.length && (columns.length !== 1 || columns[0] !== 'version'))
        throw adoptionMismatch(
          'dbmate',
          at.display,
          [
            `this ${at.display} is not dbmate's: it has the columns ${columns.join(', ')} where dbmate's has only "version"` +
              (columns.includes('dirty') ? " (golang-migrate's table has version and dirty: a golang-migrate folder has <version>_<title>.up.sql files)" : ''),
          ],
          RECOVERY,
        )
      const versions = list.map((r) => String(r.version))
      const unknown = versions.filter((v) => !revisions.some((r) => r.origin?.key === v)).sort(compareIds)
      if (unknown.length) throw adoptionMismatch('dbmate', at.display, [`it records version${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}, which no file in this folder has`], RECOVERY)
      const set = new Set(versions)
      return { adopted: revisions.filter((r) => r.origin && set.has(r.origin.key)), edited: [] }
    },
    recovery: RECOVERY,
    keep: {
      create: (at) => [`create table if not exists ${at.table} (version varchar(128) primary key)`],
      record(at, rev, direction) {
        if (rev.origin?.tool !== 'dbmate') return []
        const t = at.table
        const p = at.sql.param
        if (direction === 'down') return [[`delete from ${t} where version = ${p(1)}`, [rev.origin.key]]]
        return [[`insert into ${t} (version) select ${castAs(at.sql, p(1), 'varchar(128)')} where not exists (select 1 from ${t} where version = ${p(2)})`, [rev.origin.key, rev.origin.key]]]
      },
    },
  },
}
