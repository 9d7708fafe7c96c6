import type { LintOptions, LintReport } from './types.js'
// What every entry point exports besides its `migrate` and `createMigrator` (index.ts, entries/*.ts).
export type { Migrator } from './migrator.js'
export { MigrationError, isMigrationError, type MigrationErrorCode, type MigrationErrorDetails } from './errors.js'
export type {
  AppliedRevision,
  DownOptions,
  DownResult,
  Awaitable,
  DialectName,
  HealthSnapshot,
  LocalRevision,
  Logger,
  MigrateOptions,
  MigrateResult,
  MigrationContext,
  MigrationFn,
  MigrationFormat,
  MigrationStatus,
  MigratorEvents,
  Resolution,
  RevisionInput,
  BundledRevision,
  BundledStatement,
  RevisionStatus,
  StatusReport,
} from './types.js'
export type { LintFinding, LintOptions, LintReport, LintRule } from './types.js'

/**
 * Lints the PostgreSQL SQL revisions for statements that lock or break a live database (README "Unsafe-DDL lint").
 * Needs the optional `libpg-query` package (DRIVER_MISSING without it). Imported on call, so that the boot path
 * (migrate) never loads the linter or the parser.
 */
export async function lint(options: LintOptions): Promise<LintReport> {
  return (await import('./lint/index.js')).lint(options)
}
