import { ALL_DIALECTS } from './dialects/all.js'
import { migrateWith } from './memo.js'
import { createMigratorWith, type Migrator } from './migrator.js'
import type { LintOptions, LintReport, MigrateOptions, MigrateResult } from './types.js'

export * from './api.js'

/**
 * Brings the database to the target, once per process: concurrent calls share one run and later calls get
 * its result without a query (serverless handlers can call it on every request).
 *
 * What is kept: the outcome of each successful run, keyed on every option except `logger` and `signal`
 * (a later call with another logger or signal gets the shared result; it does not start a run). A `migrations`
 * array is keyed on its length and each entry's fields, so one edited in place runs again (and is read again);
 * a `dir` is keyed on its path only: its files are read once per process. Runs with a `client`/`db` are
 * forgotten with that object; at most 64 URL runs are kept. A failed run is forgotten, so the next call
 * tries again; wrong options reject every time. Use `createMigrator(o).run()` to run unconditionally.
 */
export function migrate(options: MigrateOptions): Promise<MigrateResult> {
  return migrateWith(ALL_DIALECTS, options)
}

/** A migrator for these options: `run()`, `start()` in the background with `health()`/`readiness()`, `down()`, `status()` … */
export function createMigrator(options: MigrateOptions): Migrator {
  return createMigratorWith(ALL_DIALECTS, options)
}

/**
 * Lints the PostgreSQL SQL revisions for statements that lock or break a live database (README "Unsafe-DDL lint").
 * Needs the optional `libpg-query` package (DRIVER_MISSING without it). Imported on call: the boot path (migrate)
 * never loads the linter or the parser.
 */
export function lint(options: LintOptions): Promise<LintReport> {
  return import('./lint/index.js').then((m) => m.lintWith(ALL_DIALECTS, options))
}
