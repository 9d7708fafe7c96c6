import { MigrationError } from '../errors.js'
import type { Entry } from '../revisions/files.js'
import type { Revision } from '../revisions/revision.js'
import { dbmate } from './dbmate.js'
import { drizzle } from './drizzle.js'
import { flyway } from './flyway.js'
import { golangMigrate } from './golang-migrate.js'
import { goose } from './goose.js'
import { prisma } from './prisma.js'
import { supabase } from './supabase.js'
import type { Tool } from './tool.js'

/**
 * The tools whose folders and histories boot-migrate takes over, in detection order. A folder is read as:
 *   1. the `format` option's tool, when given (no detection at all);
 *   2. else the first tool below whose `detect` says yes: drizzle-kit first (meta/_journal.json, or
 *      14-digit folders holding migration.sql, but not when migration_lock.toml is there: that is Prisma),
 *      then the others, each of which looks at names no earlier tool claims;
 *   3. else boot-migrate's own layout (<id>_<name>.sql with -- migrate:up, JS/TS modules).
 * A new tool is one module in this folder and one entry here, nothing in the core:
 *   - `load` returns revisions whose ids are the tool's own and whose `origin` is { tool: name, key: the identity
 *     the tool's history matches by, hash?: its checksum of the file as written, extra?: the rest of its row };
 *   - `history.read` reads the tool's rows outside any transaction (null when its table is missing), `adopt` maps
 *     them to revisions as the tool itself decides "applied" (edited files in `edited`, anything else that does
 *     not match: throw adoptionMismatch naming it and `recovery`); the core records the adopted ones together with
 *     creating its own table, in one transaction under the lock, and handles takeover.strict and the warnings;
 *   - `history.keep`, where the tool can still be run: its DDL and idempotent up/down statements (takeover.keepHistory).
 */
export const TOOLS: readonly Tool[] = [
  drizzle,
  prisma,
  supabase,
  flyway,
  golangMigrate,
  goose,
  // Last: dbmate's files are boot-migrate's own format, so it claims any SQL-only folder that no tool above did (see dbmate.ts).
  dbmate,
]

/** The `format` values: ours, then each tool's. */
export const FORMATS: readonly string[] = ['boot-migrate', ...TOOLS.map((t) => t.name)]

/** The tool that reads a folder, or undefined for boot-migrate's own layout. */
export function toolFor(dir: string, entries: Entry[], format: string | undefined): Tool | undefined {
  if (format !== undefined) {
    if (format === 'boot-migrate') return undefined
    const tool = TOOLS.find((t) => t.name === format)
    if (!tool) throw new MigrationError('INVALID_OPTIONS', `Unknown format "${format}". Known: ${FORMATS.join(', ')}.`)
    return tool
  }
  return TOOLS.find((t) => t.detect(dir, entries))
}

/** The tool the revisions came from (their `origin`), whose history is adopted on the first run. */
export function toolOf(revisions: Revision[]): Tool | undefined {
  const name = revisions.find((r) => r.origin)?.origin!.tool
  return name === undefined ? undefined : TOOLS.find((t) => t.name === name)
}
