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
  MigratorOperation,
  Resolution,
  RevisionInput,
  RevisionPhase,
  BundledRevision,
  BundledStatement,
  RevisionStatus,
  ReplicaHealth,
  StatusReport,
  BatchOptions,
  BatchResult,
  BatchProgress,
} from './types.js'
export type { LintFinding, LintOptions, LintReport, LintRule } from './types.js'

