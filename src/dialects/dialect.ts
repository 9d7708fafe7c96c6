import type { Capabilities, Connection, ErrorKind, Executor } from '../core/connection.js'
import type { HistoryStatements } from '../core/history.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax } from '../revisions/split.js'
import type { SqlSpelling } from '../tools/tool.js'
import type { DialectName } from '../types.js'

/**
 * What the orchestration needs from a database: primitives only. Each dialect implements it; the
 * algorithm in core/ has no per-database branches.
 */
export interface Dialect {
  name: DialectName
  syntax: SqlSyntax
  capabilities: Capabilities
  /** Where we migrate, for messages: never carries a password. */
  display: string
  /** The history statements in this dialect's SQL. */
  history: HistoryStatements
  /** How to spell SQL for other tools' history tables (src/tools/): quoting, schemas, parameters. */
  sql: SqlSpelling
  /**
   * Why the migration connection may not be a session although no pooler mode was chosen (a port or host name
   * that transaction poolers use): logged as a warning when the lock is taken, never on the no-op path.
   */
  sessionDoubt?: string
  /** The app's connection (or the one we opened for the check): the fast path, status and schema read here. */
  app: Executor
  classify(error: unknown): ErrorKind
  /** Why a statement cannot run inside a transaction, or undefined when it can. */
  nonTransactional(statement: string): string | undefined
  /**
   * Whether the database commits implicitly around the statement (DDL on MySQL), so a transaction cannot undo it:
   * a revision with such a statement runs statement by statement outside one. Only asked when `capabilities.transactionalDdl` is false.
   */
  implicitCommit(statement: string): boolean
  /**
   * A digest of the objects `statement` names (the whole schema where it names too many), where DDL that commits implicitly is atomic on its own (MySQL 8, MariaDB 10.6+): taken before
   * such a statement and recorded with it, so after a crash the schema says whether the statement completed. Undefined
   * where the server cannot tell (older servers); the statement is then recorded after it completes.
   */
  schemaDigest?(on: Executor, statement: string): Promise<string | undefined>
  /** Whether such a statement is recorded as starting (with `schemaDigest`) on this server; known once connected. */
  recordsFirst?(statement: string): boolean
  /** Whether a statement failed because its effect is already there ("already exists", duplicate column or key, nothing to drop). */
  effectPresent?(error: unknown): boolean
  /** A statement that must wait for its locks however long it takes: a concurrent index build stopped half-way leaves an invalid index. */
  waitsForLocks(statement: string): boolean
  /** The schema as sorted lines (tables, columns, types, defaults, indexes, constraints), without the history table. */
  schemaSnapshot(): Promise<string[]>
  /** The SQL a run would send, history writes included, for review or to run by hand (offline mode). */
  script(work: ScriptWork[]): string
  /**
   * Read replicas the app reads from (PostgreSQL streaming standbys): how readiness asks whether each one has
   * replayed the migration. Undefined where the database has none the migrator can ask.
   */
  replicas?: ReplicaSupport
  /** Opens the dedicated connection that takes the lock and runs the revisions. */
  connect(): Promise<Connection>
  /** Closes what the dialect opened; never a client the caller passed in. */
  close(): Promise<void>
}

export type Direction = 'up' | 'down'

/** One revision to run in one direction. */
export interface Work {
  revision: Revision
  direction: Direction
}

/** One revision of an offline script, with the statement timeout a run would set for it (ms: its own, else the option's). */
export interface ScriptWork extends Work {
  statementTimeout?: number
}

/** Settings every dialect receives. */
export interface DialectConfig {
  table: string
  schema: string
  instanceId: string
  ddlLockTimeout: number
  /** How long the caller retries a database that does not answer (ms): one connection attempt never waits longer. */
  connectTimeout?: number
  /** SQLite: ms after which a lock file that is no longer refreshed is taken over. */
  lockStale?: number
  debug: (message: string) => void
  /** `transaction`: the connections go through a transaction pooler; `none`: they do not (no warning from host or port). */
  pooler?: 'transaction' | 'none'
  /** Set when the caller passed a drizzle `db`: function revisions then get one on the migration connection. */
  drizzleDb?: DrizzleDb
}

export interface DrizzleDb {
  fullSchema: Record<string, unknown> | undefined
}

/** What readiness needs to wait for read replicas (see core/replicas.ts). */
export interface ReplicaSupport {
  /** One handle per entry of the `replicas` option; a URL is connected on first use, a client is used as it is. */
  open(replicas: ReadonlyArray<string | object>, timeoutMs: number): Replica[]
  /** The primary's write position now: asked after the last revision committed, so a replica past it has that commit. */
  position(): Promise<string>
}

export interface ReplicaLag {
  bytes: number
  /** Seconds since the last transaction the replica replayed, while behind; 0 once caught up. */
  seconds: number
  caughtUp: boolean
}

/** One read replica. Every method is one statement on it. */
export interface Replica {
  /** For messages and health: never carries a password. */
  name: string
  /** Whether its copy of the history has every one of `ids` applied: it has then replayed their commits. */
  hasApplied(ids: string[]): Promise<boolean>
  /** How far its replay is behind `position` (the primary's). */
  lag(position: string, ids: string[]): Promise<ReplicaLag>
  /** Closes the connection it opened; never a client the app passed. */
  close(): Promise<void>
}
