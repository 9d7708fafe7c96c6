import { openDialect, type Dialects } from '../dialects/open.js'
import { MigrationError } from '../errors.js'
import { loadRevisions } from '../revisions/load.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { LintOptions, LintReport } from '../types.js'
import { loadParser } from './parser.js'
import { lintRevisions } from './run.js'

/** The version assumed when neither `serverVersion` nor a connection says: a current release. */
export const DEFAULT_SERVER_VERSION = 17

/**
 * PostgreSQL's splitting rules (src/dialects/postgres.ts's SYNTAX), written here so that the linter's chunk carries no
 * dialect: each entry point passes its own dialects, for reading the server's version only.
 */
const POSTGRES_SYNTAX: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }

/** The linter behind `lint()` and `boot-migrate check`: reads the revisions as the migrator does and lints each SQL one. */
export async function lintWith(dialects: Dialects, options: LintOptions): Promise<LintReport> {
  if (!options.dir && !options.migrations) throw new MigrationError('INVALID_OPTIONS', 'lint() needs "dir" or "migrations".')
  const version = options.serverVersion !== undefined ? majorOf(options.serverVersion) : options.url || options.client ? await serverVersion(dialects, options) : DEFAULT_SERVER_VERSION
  const parser = await loadParser()
  const revisions = await loadRevisions(
    options.migrations ? { migrations: options.migrations } : { dir: options.dir!, ...(options.format ? { format: options.format } : {}) },
    POSTGRES_SYNTAX,
  )
  return { serverVersion: version, ...lintRevisions(revisions, version, parser) }
}

/** `15`, `'15.4'`, `'9.6'` → 15, 15, 9; PostgreSQL's `server_version_num` (150004) → 15. */
export function majorOf(v: number | string): number {
  const n = typeof v === 'number' ? v : Number(String(v).trim().split('.')[0])
  if (!Number.isFinite(n) || n <= 0 || (typeof v === 'string' && !/^\s*\d+(\.\d+)*\s*$/.test(v)))
    throw new MigrationError('INVALID_OPTIONS', `"serverVersion" is a PostgreSQL version such as 15 or '15.4', not ${JSON.stringify(v)}.`)
  return n >= 10000 ? Math.floor(n / 10000) : Math.floor(n)
}

async function serverVersion(dialects: Dialects, options: LintOptions): Promise<number> {
  const d = await openDialect({ ...(options.url ? { url: options.url } : {}), ...(options.client !== undefined ? { client: options.client } : {}) }, { table: 'boot_migrate_history', schema: 'public', instanceId: 'lint', ddlLockTimeout: 0, debug: () => undefined }, dialects)
  try {
    if (d.name !== 'postgres') throw new MigrationError('INVALID_OPTIONS', `The unsafe-DDL linter is for PostgreSQL; this is a ${d.name} database.`)
    const [row] = await d.app.query<{ v: string | number }>(`select current_setting('server_version_num') as v`)
    return majorOf(Number(row?.v))
  } finally {
    await d.close()
  }
}
