import type { Executor } from '../core/connection.js'
import { MigrationError } from '../errors.js'
import type { Settings } from '../options.js'
import type { Entry } from '../revisions/files.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { DialectName, MigrationFormat } from '../types.js'

/**
 * A migrator boot-migrate takes over from (drizzle-kit, Prisma, golang-migrate …): one module in src/tools/,
 * listed once in src/tools/index.ts. The core never names a tool; it reads folders, adopts histories and keeps
 * them in step only through this interface.
 */
export interface Tool {
  /** The `format` option's value for this layout, and the `origin.tool` of its revisions. */
  name: Exclude<MigrationFormat, 'boot-migrate'>
  /** Whether a folder is this tool's layout. Cheap: names first, a file read only when a name cannot tell. */
  detect(dir: string, entries: Entry[]): boolean
  /**
   * The folder's revisions, with the tool's own ids and each one's `origin`; refuses (INVALID_REVISION) what it
   * cannot read. Parse SQL with revisions/sql-file.ts (parseSqlRevision) and split.ts; a layout that is boot-migrate's
   * own (dbmate) can call revisions/load.ts readOwnFolder and add the origins.
   */
  load(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] | Promise<Revision[]>
  /** The tool's own history table, adopted on the first run; absent for a tool that keeps none. */
  history?: ToolHistory
}

/**
 * Who a revision is to the tool it came from: what the tool's history table records for it. `key` is the
 * identity the tool matches applied migrations by (drizzle: created_at or the 1.0 folder name; Prisma: the
 * folder name; golang-migrate: the version); `hash` the tool's checksum of the file as written, where it keeps one.
 */
export interface Origin {
  tool: string
  key: string
  hash?: string
  /** Anything else the tool's history row holds (drizzle: `when`, `name`). */
  extra?: Record<string, string | number | null>
}

/** How a dialect spells SQL for a tool: the tool never branches on dialect internals. */
export interface SqlSpelling {
  dialect: DialectName
  /** A quoted identifier: `"x"`. */
  quote(name: string): string
  /** A table: `"schema"."name"` on PostgreSQL, `"name"` on SQLite (one namespace per file). */
  qualify(schema: string | undefined, name: string): string
  /** The n-th (1-based) bind parameter: `$1` or `?`. */
  param(n: number): string
  /** Whether the dialect has schemas (PostgreSQL): `create schema` only makes sense there. */
  schemas: boolean
  /** `cast(expr as type)` for `bigint` or `varchar(n)`, as the dialect spells it (MySQL: signed, char(n)). */
  cast?(expr: string, type: string): string
}

/** A cast in the dialect's spelling. */
export const castAs = (sql: SqlSpelling, expr: string, type: string) => (sql.cast ? sql.cast(expr, type) : `cast(${expr} as ${type})`)

/** Where a tool's history table is, spelled for the dialect at hand. */
export interface TablePlace {
  sql: SqlSpelling
  /** The table, quoted and (where the dialect has schemas) qualified. */
  table: string
  /** The schema's quoted name where the dialect has schemas and the table names one; undefined otherwise. */
  schema: string | undefined
  /** The table as a person writes it, for messages: `drizzle.__drizzle_migrations`. */
  display: string
}

/** A revision adopted although its file changed after the tool applied it: a warning, or with `takeover.strict` a refusal. */
export interface Edited {
  revision: Revision
  /** The tool's hash in its history (the file as it was applied). */
  stored: string
  /** The tool's hash of the file today. */
  today: string
}

export interface Adoption {
  /** Revisions the tool has applied, each once, to record as applied without running them. */
  adopted: Revision[]
  /** Those among them whose file changed after the tool applied it. */
  edited: Edited[]
}

export interface ToolHistory<Row = unknown> {
  /**
   * The table's schema (PostgreSQL only; ignored on SQLite) and name, from the tool's defaults or the options. No
   * schema: unqualified, i.e. wherever the connection's search_path finds it (golang-migrate, dbmate, Flyway by default).
   */
  where(settings: Settings): { schema?: string; table: string }
  /** The tool's rows, or null when the table does not exist (`missing` says whether an error is that). Runs outside any transaction. */
  read(on: Executor, at: TablePlace, missing: (e: unknown) => boolean): Promise<Row[] | null>
  /**
   * Matches the rows with the folder as the tool itself would: what is applied, and what changed since. Throws
   * ADOPTION_MISMATCH (use `adoptionMismatch`) naming each row that does not match and the tool's own way out.
   */
  adopt(rows: Row[], revisions: Revision[], at: TablePlace): Adoption
  /** What to do when adoption is refused: the tool's own recovery command, or restoring its files; ends the message. */
  recovery: string
  /** With `takeover.keepHistory`, the tool's table is kept in step with ours (where the tool can still be run). */
  keep?: {
    /** The tool's own DDL for its table (and schema), idempotent. */
    create(at: TablePlace): string[]
    /**
     * Idempotent statements recording a revision applied (up) or reverted (down), run in the transaction that
     * records it in ours; [] for a revision not of this tool. What a statement needs beyond the revision (the
     * previous version, for a tool that stores only the current one) goes in its `origin.extra` at load time.
     */
    record(at: TablePlace, revision: Revision, direction: 'up' | 'down'): Array<[string, unknown[]]>
  }
}

/** The error every tool raises when its history does not match its folder: nothing is recorded then. */
export const adoptionMismatch = (tool: string, table: string, problems: string[], recovery: string) =>
  new MigrationError('ADOPTION_MISMATCH', `Cannot take over ${tool}'s migration history (${table}): ${problems.join('; ')}. Nothing was recorded. ${recovery}`)

/** `select *` from a tool's table; null when it does not exist. */
export async function selectAll<R = Record<string, unknown>>(on: Executor, at: TablePlace, missing: (e: unknown) => boolean): Promise<R[] | null> {
  try {
    return await on.query<R>(`select * from ${at.table}`)
  } catch (e) {
    if (missing(e)) return null
    throw e
  }
}

