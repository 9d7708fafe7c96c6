import type { DrizzleRow } from '../adopt.js'
import type { HistoryEntry, HistoryRow } from '../plan.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { DialectName, MigrationContext } from '../types.js'

/** What the orchestration needs from a database. Each dialect file implements it; migrator.ts has no per-database branches. */
export interface Dialect {
  name: DialectName
  syntax: SqlSyntax
  /** Where we migrate, for messages: never carries a password. */
  display: string
  /** Why a statement cannot run inside a transaction, or undefined when it can. */
  nonTransactional(statement: string): string | undefined
  /** The fast path: exactly one query. A missing table is an empty history. */
  readHistory(): Promise<HistoryRow[]>
  /** Every history row with all its columns, oldest first; [] when the table does not exist. */
  readDetails(): Promise<HistoryEntry[]>
  /** The schema as sorted lines (tables, columns, types, defaults, indexes, constraints), without the history table. */
  schemaSnapshot(): Promise<string[]>
  /** The SQL a run would send, history writes included, for review or to run by hand (offline mode). */
  script(work: Work[]): string
  /** Errors that mean "not accepting connections yet": retried with backoff until connectTimeout. */
  isTransient(error: unknown): boolean
  /** The dedicated connection that takes the lock and runs the revisions. */
  openSession(): Promise<Session>
  /** Closes what the dialect opened; never a client the caller passed in. */
  close(): Promise<void>
}

export type Direction = 'up' | 'down'

/** One revision to run in one direction. */
export interface Work {
  revision: Revision
  direction: Direction
}

export interface ApplyHooks {
  started(revision: Revision): void
  /** The `log` a function revision's context carries. */
  log(revision: Revision): MigrationContext['log']
  signal: AbortSignal | undefined
}

export interface Session {
  /** One attempt at the migration lock; never blocks. */
  tryLock(): Promise<boolean>
  /** Who holds the lock, for logs and LOCK_TIMEOUT. */
  lockHolder(): Promise<string | undefined>
  /** The history read under the lock; null when the table does not exist yet. */
  readHistory(): Promise<HistoryRow[] | null>
  createHistory(): Promise<void>
  /**
   * Runs revisions and writes their history in one transaction; returns each one's duration.
   * `up` inserts the history row, `down` runs the down step and deletes it.
   */
  applyInTransaction(revisions: Revision[], hooks: ApplyHooks, direction?: Direction): Promise<number[]>
  /** Runs a revision outside a transaction, its row `running` meanwhile: `applied` after up, deleted after down. */
  applyOutsideTransaction(revision: Revision, hooks: ApplyHooks, direction?: Direction): Promise<number>
  /** A revision failed only because it waited too long for a table lock: safe to retry. */
  isLockConflict(error: unknown): boolean
  /** Sessions that block this connection right now, described for a log line. */
  blockers(): Promise<string[]>
  /** What an interrupted no-transaction revision may have left behind, with how to clean it up. */
  leftovers(): Promise<string[]>
  /** drizzle's own history (`__drizzle_migrations`), to adopt on the first run; null when it does not exist. */
  readDrizzleHistory?(): Promise<DrizzleRow[] | null>
  /** Clears a dirty revision after a human has looked: marks it applied, or forgets it. False when it was not dirty. */
  resolve(id: string, outcome: 'applied' | 'rolled-back'): Promise<boolean>
  /** Interrupts the statements in flight (shutdown); drivers that cannot interrupt stop between revisions instead. */
  cancel?(): void
  /** Frees the lock and the connection. */
  release(): Promise<void>
}

/** Settings every dialect receives. */
export interface DialectConfig {
  table: string
  schema: string
  instanceId: string
  ddlLockTimeout: number
  /** SQLite: ms after which a lock file that is no longer refreshed is taken over. */
  lockStale?: number
  debug: (message: string) => void
  /** drizzle's history table, read for adoption and, with keepHistory, written alongside ours. */
  drizzle?: DrizzleConfig
}

export interface DrizzleConfig {
  table: string
  /** PostgreSQL only. */
  schema: string
  keepHistory: boolean
  /** Set when the caller passed a drizzle `db`: function revisions then get one on the migration connection. */
  db?: { fullSchema: Record<string, unknown> | undefined }
}
