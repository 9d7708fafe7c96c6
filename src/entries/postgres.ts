import type { Dialects } from '../dialects/open.js'
import { postgresDialect } from '../dialects/postgres.js'
import { migrateWith } from '../memo.js'
import { createMigratorWith, type Migrator } from '../migrator.js'
import type { LintOptions, LintReport, MigrateOptions, MigrateResult } from '../types.js'

export * from '../api.js'

/** PostgreSQL only, imported statically: a bundle of this entry point holds no other database's code. */
const DIALECTS: Dialects = { entry: 'boot-migrate/postgres', postgres: postgresDialect }

/** `migrate` of `boot-migrate`, for PostgreSQL only (see the README, "Bundling"). */
export function migrate(options: MigrateOptions): Promise<MigrateResult> {
  return migrateWith(DIALECTS, options)
}

/** `createMigrator` of `boot-migrate`, for PostgreSQL only. */
export function createMigrator(options: MigrateOptions): Migrator {
  return createMigratorWith(DIALECTS, options)
}

/**
 * Lints the PostgreSQL SQL revisions for statements that lock or break a live database (README "Unsafe-DDL lint").
 * Needs the optional `libpg-query` package (DRIVER_MISSING without it). Imported on call: the boot path (migrate)
 * never loads the linter or the parser.
 */
export function lint(options: LintOptions): Promise<LintReport> {
  return import('../lint/index.js').then((m) => m.lintWith(DIALECTS, options))
}
