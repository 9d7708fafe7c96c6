import { existsSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { MigrationError } from '../errors.js'
import { checksumOf } from '../revisions/checksum.js'
import { listFolder, readText, type Entry } from '../revisions/files.js'
import { idKey } from '../revisions/ids.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import { parseSqlRevision } from '../revisions/sql-file.js'
import { adoptionMismatch, selectAll, type Edited, type Tool } from './tool.js'

// Flyway's layout and history, as its source has them (github.com/flyway/flyway, flyway-core):
// - resource/ResourceNameParser: <prefix><version>__<description>.sql with prefixes V (versioned), U (undo, Teams),
//   B (baseline migration), R (repeatable, no version); the description is the rest with `_` read as a space.
// - api/MigrationVersion: `_` in a version is `.`, parts compare as integers, trailing zero parts do not count (1.0 = 1).
// - resolver/ChecksumCalculator: CRC-32 over each line's UTF-8 bytes without its terminator (BufferedReader.readLine:
//   \n, \r, \r\n), a byte-order mark dropped from the first line; stored as a signed 32-bit int.
// - Locations are scanned recursively; `script` is the path relative to the location.
// - database/postgresql/PostgreSQLDatabase, database/sqlite/SQLiteDatabase getRawCreateScript: the table's DDL.
// - info/MigrationInfoServiceImpl: rows in installed_rank order; a successful DELETE row (flyway repair) marks the latest
//   row of its version deleted, an UNDO_SQL row (flyway undo, Teams; the type is api/CoreMigrationType's up to 9.7, since
//   then in the proprietary plugin) marks it undone: either one is no longer applied; a
//   BASELINE / SQL_BASELINE row makes every version up to it count as applied; SCHEMA rows only record created schemas.

// Prefixes are case-sensitive, the .sql suffix is not (ResourceNameParser.stripSuffix).
const VERSIONED = /^([VUB])(\d+(?:[._]\d+)*)__(.+)\.[sS][qQ][lL]$/
const REPEATABLE = /^R__(.+)\.[sS][qQ][lL]$/
/** What detection looks at: a top-level file Flyway would read. */
const FLYWAY_NAME = /^(?:[VUB]\d+(?:[._]\d+)*|R)__.+\.[sS][qQ][lL]$/
/** Flyway's SQL callbacks (beforeMigrate.sql, afterMigrate__grants.sql …: api/callback/Event), run around every migrate. */
const CALLBACK =
  /^(?:before|after)(?:Each)?(?:Migrate|Clean|Info|Validate|Baseline|Repair|Undo|Connect|EachUndo|EachMigrateStatement|EachUndoStatement)(?:Error|Applied|Operation(?:Finish|Error))?(?:__.*)?\.sql$|^createSchema(?:__.*)?\.sql$/i
/** Statements PostgreSQL (and SQLite: VACUUM) cannot run in a transaction block, which Flyway's parsers run outside one. */
const NON_TRANSACTIONAL =
  /^(?:(?:create\s+(?:unique\s+)?|drop\s+)index\s+concurrently\b|reindex\b[\s\S]*\bconcurrently\b|vacuum\b|alter\s+system\b|(?:create|drop)\s+(?:database|tablespace|subscription)\b)/i
/** Flyway replaces `${name}` placeholders (placeholderReplacement, on by default) before running a script; boot-migrate does not. */
const PLACEHOLDER = /\$\{([\w.:-]+)\}/

interface Script {
  prefix: 'V' | 'U' | 'B'
  version: string
  description: string
  /** The path as Flyway records it, relative to the location, with `/`. */
  script: string
  path: string
}

/** A row of flyway_schema_history, as read. */
export interface FlywayRow {
  installed_rank: number
  version: string | null
  description: string
  type: string
  script: string
  checksum: number | null
  success: boolean
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c
  }
  return t
})()

/** Flyway's checksum of a file's text (ChecksumCalculator): CRC-32 of its lines without terminators, BOM dropped, as a signed int. */
export function flywayChecksum(text: string): number {
  const body = Buffer.from((text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).replace(/\r\n|\r|\n/g, ''), 'utf8')
  let c = -1
  for (const byte of body) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ -1) | 0
}

/** A version as Flyway displays and stores it: `_` read as `.`. */
const versionOf = (raw: string) => raw.replace(/_/g, '.')

function scan(root: string, dir: string, out: Script[], refused: string[], depth = 0) {
  // Flyway scans its locations recursively; a bound keeps a symbolic link to a parent folder from looping.
  if (depth > 16) throw new MigrationError('INVALID_REVISION', `${dir}: more than 16 folders deep; is a symbolic link pointing to a parent folder?`, { file: dir })
  for (const e of listFolder(dir).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, e.name)
    if (e.isDirectory()) {
      scan(root, path, out, refused, depth + 1)
      continue
    }
    if (!e.isFile()) continue
    if (REPEATABLE.test(e.name) || CALLBACK.test(e.name)) refused.push(path)
    if (/^\d+[_-].*\.sql$/i.test(e.name))
      throw new MigrationError(
        'INVALID_REVISION',
        `${path}: named as a boot-migrate revision in a Flyway folder, where Flyway would ignore it and so does boot-migrate's Flyway reader. ` +
          'Name it as Flyway does: V<next version>__<description>.sql.',
        { file: path },
      )
    const m = VERSIONED.exec(e.name)
    if (m) out.push({ prefix: m[1] as Script['prefix'], version: versionOf(m[2]!), description: m[3]!.replace(/_/g, ' '), script: relative(root, path).split(sep).join('/'), path })
  }
}

/** `<script>.conf` next to a script (Flyway's script configuration): `executeInTransaction=false` runs it outside a transaction. */
function executeInTransaction(path: string): boolean {
  const conf = `${path}.conf`
  if (!existsSync(conf)) return true
  return !/^\s*executeInTransaction\s*=\s*false\s*$/im.test(readFileSync(conf, 'utf8'))
}

/**
 * Reads a Flyway folder: each V<version>__<description>.sql is a revision whose id is Flyway's version and whose up
 * step is the whole file, in one transaction (Flyway's default on PostgreSQL and SQLite); U<version>__*.sql is its down
 * step. Repeatable (R__) and baseline (B) migrations are refused until supported.
 */
function load(dir: string, _entries: Entry[], syntax: SqlSyntax): Revision[] {
  const scripts: Script[] = []
  const repeatable: string[] = []
  scan(dir, dir, scripts, repeatable)
  const callbacks = repeatable.filter((f) => CALLBACK.test(f.slice(f.lastIndexOf(sep) + 1)))
  if (callbacks.length)
    throw new MigrationError(
      'INVALID_REVISION',
      `${callbacks.join(', ')}: Flyway callbacks (beforeMigrate.sql, afterMigrate.sql …), which Flyway runs around every migrate, are not supported yet by boot-migrate. ` +
        'Move what it does into a versioned script (V<next version>__<description>.sql) if it needs to run once, and delete the file.',
      { file: callbacks[0] },
    )
  if (repeatable.length)
    throw new MigrationError(
      'INVALID_REVISION',
      `${repeatable.join(', ')}: Flyway repeatable migrations (R__<description>.sql) are not supported yet by boot-migrate. ` +
        'Move what the file creates into a versioned script (V<next version>__<description>.sql) and delete the R__ file, ' +
        'or keep running it with Flyway until boot-migrate supports repeatable migrations.',
      { file: repeatable[0] },
    )
  const baseline = scripts.find((s) => s.prefix === 'B')
  if (baseline)
    throw new MigrationError(
      'INVALID_REVISION',
      `${baseline.path}: Flyway baseline migrations (B<version>__<description>.sql) are not supported yet by boot-migrate. ` +
        'Keep the versioned scripts it stands for (V…__*.sql up to its version) and delete the B file; a database Flyway built from it ' +
        '(its history has a SQL_BASELINE row) is taken over as being at that version.',
      { file: baseline.path },
    )
  const undo = new Map<string, Script>()
  for (const s of scripts.filter((x) => x.prefix === 'U')) {
    const other = undo.get(idKey(s.version))
    if (other) throw new MigrationError('INVALID_REVISION', `Two Flyway undo scripts for version ${s.version}: ${other.path} and ${s.path}. Keep one.`, { file: s.path })
    undo.set(idKey(s.version), s)
  }
  const versioned = scripts.filter((s) => s.prefix === 'V')
  for (const u of undo.values())
    if (!versioned.some((v) => idKey(v.version) === idKey(u.version)))
      throw new MigrationError('INVALID_REVISION', `${u.path}: a Flyway undo script for version ${u.version}, which has no V${u.version}__*.sql to undo.`, { file: u.path })
  return versioned.map((s) => {
    const { text, raw } = readText(s.path, s.path)
    const placeholder = PLACEHOLDER.exec(text)
    if (placeholder)
      throw new MigrationError(
        'INVALID_REVISION',
        `${s.path}: uses the Flyway placeholder ${placeholder[0]}, which Flyway replaces before running the script and boot-migrate does not. ` +
          'Write its value in the file instead (on a database Flyway already migrated this is reported as an edited file, which is adopted with a warning).',
        { file: s.path },
      )
    const parsed = parseSqlRevision(`-- migrate:up\n${text}`, s.path, syntax, -1)
    const up = parsed.up
    // Flyway runs a script outside a transaction when every statement in it cannot run inside one (its parser's
    // non-transactional statements; a script mixing both is refused, as Flyway refuses it with mixed=false).
    const transaction =
      parsed.transaction && executeInTransaction(s.path) && !(up.statements.length > 0 && up.statements.every((st) => NON_TRANSACTIONAL.test(st.text.trim())))
    const u = undo.get(idKey(s.version))
    const down = u ? parseSqlRevision(`-- migrate:up\n${readText(u.path, u.path).text}`, u.path, syntax, -1).up : null
    return {
      id: s.version,
      name: s.description.replace(/ /g, '_'),
      source: s.path,
      checksum: checksumOf(up.text, transaction),
      transaction,
      up,
      down,
      origin: {
        tool: 'flyway',
        key: idKey(s.version),
        hash: String(flywayChecksum(raw)),
        extra: {
          description: s.description,
          script: s.script,
          undoDescription: u ? u.description : null,
          undoScript: u ? u.script : null,
          undoChecksum: u ? flywayChecksum(readText(u.path, u.path).raw) : null,
        },
      },
    }
  })
}

const RECOVERY =
  'Fix it with Flyway itself (`flyway repair` removes failed rows and marks missing migrations deleted; `flyway validate` shows what differs), ' +
  'or restore the scripts Flyway applied, or record what is really applied with `boot-migrate stamp <version>`.'

const isTrue = (v: unknown) => v === true || v === 1 || v === '1' || v === 't' || v === 'true'

export const flyway: Tool = {
  name: 'flyway',
  detect: (_dir, entries) => entries.some((e) => FLYWAY_NAME.test(e.name) && e.isFile()),
  load,
  history: {
    // Flyway's default: flyway_schema_history in the connection's default schema.
    where: () => ({ table: 'flyway_schema_history' }),
    async read(on, at, missing) {
      const rows = await selectAll<Record<string, unknown>>(on, at, missing)
      return (
        rows &&
        rows
          .map(
            (r): FlywayRow => ({
              installed_rank: Number(r.installed_rank),
              version: r.version === null || r.version === undefined ? null : String(r.version),
              description: String(r.description ?? ''),
              type: String(r.type),
              script: String(r.script ?? ''),
              checksum: r.checksum === null || r.checksum === undefined ? null : Number(r.checksum),
              success: isTrue(r.success),
            }),
          )
          .sort((a, b) => a.installed_rank - b.installed_rank)
      )
    },
    /**
     * As Flyway's `info`: a version is applied when its latest row is a successful one not since deleted (repair) or
     * undone, or when it is at or below a baseline. A failed row is refused (Flyway itself refuses to migrate then).
     */
    adopt(rows, revisions, at) {
      const problems: string[] = []
      const byKey = new Map(revisions.filter((r) => r.origin?.tool === 'flyway').map((r) => [r.origin!.key, r]))
      // Per version: the rows that still count, latest last.
      const live = new Map<string, FlywayRow[]>()
      let baseline: string | null = null
      for (const row of rows as FlywayRow[]) {
        if (!row.success) {
          // Flyway's migrate refuses to go on after a failed migration too; a failed DELETE row is one it ignores.
          if (row.type !== 'DELETE')
            problems.push(`Flyway's row ${row.installed_rank} (${row.version === null ? 'repeatable' : `version ${row.version}`}, ${row.script}) records a failed migration (success = false)`)
          continue
        }
        if (row.version === null) continue // repeatable migrations: nothing versioned to adopt
        const key = idKey(row.version)
        if (row.type === 'SCHEMA') continue
        if (row.type === 'DELETE' || row.type.startsWith('UNDO_')) {
          live.get(key)?.pop()
          continue
        }
        if (row.type === 'BASELINE' || row.type.endsWith('_BASELINE')) {
          if (baseline === null || compareKeys(key, baseline) > 0) baseline = key
          continue
        }
        live.set(key, [...(live.get(key) ?? []), row])
      }
      const adopted = new Set<Revision>()
      const edited: Edited[] = []
      for (const [key, list] of live) {
        const row = list[list.length - 1]
        if (!row) continue
        const rev = byKey.get(key)
        if (!rev) {
          problems.push(`Flyway applied version ${row.version} (${row.script}, type ${row.type}) that this folder does not have`)
          continue
        }
        adopted.add(rev)
        if (row.checksum !== null && row.type === 'SQL' && String(row.checksum) !== rev.origin!.hash)
          edited.push({ revision: rev, stored: String(row.checksum), today: rev.origin!.hash! })
      }
      if (baseline !== null) for (const rev of byKey.values()) if (compareKeys(rev.origin!.key, baseline) <= 0) adopted.add(rev)
      if (problems.length) throw adoptionMismatch('Flyway', at.display, problems, RECOVERY)
      return { adopted: revisions.filter((r) => adopted.has(r)), edited: edited.sort((a, b) => revisions.indexOf(a.revision) - revisions.indexOf(b.revision)) }
    },
    recovery: RECOVERY,
    keep: {
      create: (at) =>
        at.sql.dialect === 'mysql'
          ? [
              // MySQLDatabase.getRawCreateScript; its separate CREATE INDEX inline, since MySQL 8 has no CREATE INDEX IF NOT EXISTS (the same table results).
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    \`installed_rank\` INT NOT NULL,
    \`version\` VARCHAR(50),
    \`description\` VARCHAR(200) NOT NULL,
    \`type\` VARCHAR(20) NOT NULL,
    \`script\` VARCHAR(1000) NOT NULL,
    \`checksum\` INT,
    \`installed_by\` VARCHAR(100) NOT NULL,
    \`installed_on\` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    \`execution_time\` INT NOT NULL,
    \`success\` BOOL NOT NULL,
    CONSTRAINT \`flyway_schema_history_pk\` PRIMARY KEY (\`installed_rank\`),
    INDEX \`flyway_schema_history_s_idx\` (\`success\`)
) ENGINE=InnoDB`,
            ]
          : at.sql.dialect === 'postgres'
          ? [
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL,
    CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank")
)`,
              `CREATE INDEX IF NOT EXISTS "flyway_schema_history_s_idx" ON ${at.table} ("success")`,
            ]
          : [
              `CREATE TABLE IF NOT EXISTS ${at.table} (
    "installed_rank" INT NOT NULL PRIMARY KEY,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INT,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),
    "execution_time" INT NOT NULL,
    "success" BOOLEAN NOT NULL
)`,
              `CREATE INDEX IF NOT EXISTS "flyway_schema_history_s_idx" ON ${at.table} ("success")`,
            ],
      /**
       * As Flyway's migrate (a SQL row) and undo (an UNDO_SQL row) write them: the next installed_rank, the version,
       * description, script and checksum. Idempotent: an up is recorded only when the version is not applied already.
       */
      record(at, rev, direction) {
        if (rev.origin?.tool !== 'flyway') return []
        const t = at.table
        const p = at.sql.param
        const x = rev.origin.extra!
        const pg = at.sql.dialect === 'postgres'
        // installed_by as Flyway fills it by default: the database user (MySQL: USER() without its host part); SQLite has none.
        const by = pg ? 'current_user' : at.sql.dialect === 'mysql' ? "substring_index(user(), '@', 1)" : "''"
        const yes = pg ? 'true' : '1'
        // The version's latest SQL / UNDO_SQL row decides whether Flyway sees it applied (parameters in textual order, for `?`).
        const latest = `(select type from ${t} where version = ${p(5)} and type in ('SQL', 'UNDO_SQL') and success = ${yes} order by installed_rank desc limit 1)`
        const next = `(select coalesce(max(installed_rank), 0) + 1 from ${t})`
        if (direction === 'up')
          return [
            [
              `insert into ${t} (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
               select ${next}, ${p(1)}, ${p(2)}, 'SQL', ${p(3)}, ${p(4)}, ${by}, 0, ${yes} where coalesce(${latest}, 'UNDO_SQL') <> 'SQL'`,
              [rev.id, x.description, x.script, Number(rev.origin.hash), rev.id],
            ],
          ]
        return [
          [
            `insert into ${t} (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
             select ${next}, ${p(1)}, ${p(2)}, 'UNDO_SQL', ${p(3)}, ${p(4)}, ${by}, 0, ${yes} where ${latest} = 'SQL'`,
            [rev.id, x.undoDescription ?? x.description, x.undoScript ?? x.script, x.undoChecksum, rev.id],
          ],
        ]
      },
    },
  },
}

/** Orders two idKey()-normalised versions part by part. */
function compareKeys(a: string, b: string): number {
  const x = a.split('.').map(BigInt)
  const y = b.split('.').map(BigInt)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0n) - (y[i] ?? 0n)
    if (d !== 0n) return d < 0n ? -1 : 1
  }
  return 0
}
