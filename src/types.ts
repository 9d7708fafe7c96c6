import type { MigrationError, MigrationErrorCode } from './errors.js'

export type Awaitable<T> = T | PromiseLike<T>

/** What a JS/TS revision's `up`/`down` receives. `Client` is the driver object on the migration connection. */
export interface MigrationContext<Client = unknown> {
  /**
   * The driver on the migration connection: a postgres.js `sql` (inside the revision's
   * transaction when it has one), a node-postgres `Client` (ours, with the transaction open on it), a PGlite
   * instance or, inside a transaction, the transaction PGlite hands out, a better-sqlite3 `Database` or a mysql2 connection.
   */
  sql: Client
  dialect: DialectName
  /**
   * When migrate() was given a drizzle `db`: a drizzle database on the migration connection (inside the
   * revision's transaction when it has one), with the same schema, for data migrations with drizzle's query builder.
   */
  db?: unknown
  revision: { id: string; name: string }
  /** Runs SQL text that may hold several statements, one after another. */
  exec(sqlText: string): Promise<void>
  /** Runs one parameterised statement and returns its rows. */
  query<Row = Record<string, unknown>>(sqlText: string, params?: unknown[]): Promise<Row[]>
  log: (message: string, fields?: Record<string, unknown>) => void
  signal: AbortSignal | undefined
  /**
   * A backfill in batches, in a revision outside a transaction (`transaction = false`): runs the UPDATE or DELETE,
   * its `$size` replaced by `size`, each time in a transaction of its own with `lock_timeout = ddlLockTimeout`,
   * until it changes no row. The statement must only match rows not yet done (e.g.
   * `… where id in (select id from t where new_col is null limit $size)`), so a run again after a crash goes on where it stopped.
   */
  batch(statement: string, options: BatchOptions): Promise<BatchResult>
}

export interface BatchOptions {
  /** Rows per batch: a positive integer, written in place of `$size`. */
  size: number
  /** Pause between batches (ms), so replicas and other writers keep up. Default 0. */
  pauseMs?: number
}

/** What a ctx.batch call did: the batches that changed rows (the last, empty one not counted) and the rows they changed. */
export interface BatchResult {
  batches: number
  rows: number
}

/** The progress of a ctx.batch call: `batch:progress`, and `health().applying.batch`. */
export interface BatchProgress extends BatchResult {
  /** Rows per second since the call began. */
  rowsPerSecond: number
}

export type MigrationFn<Client = unknown> = (ctx: MigrationContext<Client>) => Awaitable<void>

/** A revision given in code (the `migrations` option), or what a module in `dir` exports. */
export interface RevisionInput {
  /** Sortable id, e.g. `0001` or `20261121093000`. Identity and order of the revision. */
  id: string
  name?: string
  up: string | MigrationFn
  down?: string | MigrationFn
  /** `false` runs the revision outside a transaction (CREATE INDEX CONCURRENTLY, VACUUM …). */
  transaction?: boolean
  /**
   * `'contract'`: the revision removes what the old code still reads (DROP COLUMN …), so the boot defers it and
   * `boot-migrate up --contract` / `migrate({ phase: 'contract' })` applies it after the rollout. Default `'expand'`.
   */
  phase?: RevisionPhase
  /**
   * Stored and compared on every boot. Computed for SQL text; a function revision is only
   * checked when it gives one (its compiled text changes with every build or bundler).
   */
  checksum?: string
  /**
   * How long each of its statements may run: ms, or a duration such as `'30s'`, `'5min'`, `'2h'`. Overrides the
   * `statementTimeout` option for this revision (`export const statementTimeout = '5min'` in a module).
   */
  statementTimeout?: number | string
  /**
   * Written by `boot-migrate bundle`, never by hand: what reading the folder produced (statements as split, the
   * file it came from, who it is to another tool), so that a bundled revision is the folder's to the byte.
   */
  bundled?: BundledRevision
}

/** A statement of a bundled step: its line in the file and [start, end) in the step's text, or the text itself. */
export type BundledStatement = [line: number, start: number, end: number] | [line: number, text: string]

/** See RevisionInput.bundled. */
export interface BundledRevision {
  v: 1
  /** Whose SQL rules split the statements (`boot-migrate bundle --dialect`). */
  dialect: DialectName
  /** The file it was read from, for messages. */
  source: string
  up: BundledStatement[]
  down?: BundledStatement[]
  /** For another tool's folder: who the revision is to that tool (its history's key, hash and row). */
  origin?: { tool: string; key: string; hash?: string; extra?: Record<string, string | number | null> }
  notice?: string
  /** The file's `-- migrate:statement-timeout`: ms and its line. */
  statementTimeout?: { ms: number; line?: number }
}

export type DialectName = 'postgres' | 'sqlite' | 'mysql'

/** See RevisionInput.phase and MigrateOptions.phase. */
export type RevisionPhase = 'expand' | 'contract'

/** Structured logger: `console` or a pino-style object (`info(obj, msg)`). */
export interface Logger {
  debug?: (...args: unknown[]) => void
  info: (...args: unknown[]) => void
  warn: (...args: unknown[]) => void
  error: (...args: unknown[]) => void
}

export interface MigrateOptions {
  /** `postgres://…`, `sqlite:path`, `file:path` or a path ending in .db/.sqlite/.sqlite3. */
  url?: string
  /**
   * An existing client; never closed by the migrator. PostgreSQL: a postgres.js `sql`, a node-postgres (`pg`)
   * `Pool` or `Client`, or a PGlite instance; SQLite: a better-sqlite3 `Database`; MySQL: a mysql2 `Pool` or
   * `Connection`. Recognised by shape (see README "Clients"), so none of these packages is needed to type-check.
   */
  client?: unknown
  /**
   * A drizzle-orm database (postgres-js, node-postgres, pglite, better-sqlite3 or mysql2); its own client is used,
   * as with `client`.
   */
  db?: unknown
  /**
   * drizzle's history table: its name and schema if you changed drizzle's `migrationsTable`/`migrationsSchema`,
   * and `keepHistory: true` to keep it up to date too, so switching back to drizzle's migrate() re-applies nothing.
   */
  drizzle?: { table?: string; schema?: string; keepHistory?: boolean }
  /**
   * The folder's layout, instead of detecting it: `'boot-migrate'`, or the tool whose folder it is (`'drizzle'` …).
   * Detection order when absent: drizzle-kit, then the other tools' layouts, then boot-migrate's own.
   */
  format?: MigrationFormat
  /**
   * Taking over another tool's history (drizzle's `__drizzle_migrations` …) on the first run. `keepHistory: true`
   * keeps that tool's table in step with ours, so switching back re-applies nothing (where the tool can still be
   * run); `drizzle.keepHistory` is the same switch and either one turns it on. `strict: true` refuses
   * (ADOPTION_MISMATCH) a file changed after the tool applied it, which is otherwise adopted with a warning.
   */
  takeover?: { keepHistory?: boolean; strict?: boolean }
  /** A URL with DDL rights for the lock and the revisions, when `client`/`url` is least-privilege. */
  migrationUrl?: string
  /** Folder of revisions. */
  dir?: string
  /** Revisions given in code (bundled apps with no file system). */
  migrations?: RevisionInput[]
  /** History table name. Default `boot_migrate_history`. */
  table?: string
  /** Schema of the history table (PostgreSQL; SQLite has one namespace per file and ignores it). Default `public`. */
  schema?: string
  /** Highest revision id to apply. Default: the newest one. */
  to?: string
  /** `each` (default): one transaction per revision; `all`: one around every pending revision. */
  transaction?: 'each' | 'all'
  /**
   * `'transaction'`: the URL or client goes through a transaction pooler (PgBouncer in transaction mode, Supabase's
   * port 6543, Neon's -pooler hosts). The migration lock then lasts one transaction, every pending revision runs in
   * it, prepared statements are off, and a no-transaction revision is refused (run it with `migrationUrl`). With
   * `migrationUrl`, only the boot check goes through the pooler. `'none'`: no pooler, and no warning when the host
   * or port looks like one. PostgreSQL only. Default: neither, with a warning on a pooler's usual host or port.
   */
  pooler?: 'transaction' | 'none'
  /** Apply pending revisions whose id sorts before an applied one. Default false. */
  allowOutOfOrder?: boolean
  /**
   * `'expand'` (default, the boot path) applies the pending expand revisions and defers the contract ones
   * (`-- migrate:phase contract`); `'contract'` applies every pending revision in id order, contract ones included
   * (the pipeline, after the rollout: `boot-migrate up --contract`).
   */
  phase?: RevisionPhase
  /**
   * With `phase: 'expand'`: stop at the first pending contract revision, leaving it and every revision after it for
   * `phase: 'contract'`. Default false: later expand revisions are applied at boot and the contract one waits.
   */
  contractBlocks?: boolean
  /** Max time to wait for another process's migration lock (ms). Default 300000. */
  lockTimeout?: number
  /**
   * SQLite: after how long a lock file that its holder stopped refreshing (the process was killed) is taken
   * over (ms). At least 2000. Default 10000.
   */
  lockStale?: number
  /** PostgreSQL `lock_timeout` for each transactional revision and each batch of ctx.batch; SQLite `busy_timeout` of the migration connection (ms). Default 3000. */
  ddlLockTimeout?: number
  /** Retries of a revision that hit `ddlLockTimeout`. Default 10. */
  ddlRetries?: number
  /**
   * How long each statement of a revision may run (ms) before the database cancels it and the revision fails with
   * STATEMENT_TIMEOUT (never retried). A revision's `-- migrate:statement-timeout` (or `statementTimeout`) overrides it.
   * PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL `max_execution_time` (SELECT only). Not on
   * SQLite or PGlite. Default: none.
   */
  statementTimeout?: number
  /**
   * `migrate` (default) applies pending revisions. `wait` never takes the lock or runs DDL: it polls the
   * history until another process has brought the database to the target (replicas with a least-privilege role).
   */
  mode?: 'migrate' | 'wait'
  /** With `mode: 'wait'`, how long to wait for the database to reach the target (ms). Default 300000. */
  waitTimeout?: number
  /**
   * How long stop() lets a running revision finish after cancelling its statement (ms): a function revision
   * that ignores `ctx.signal` past it is abandoned and its connection closed, so the server rolls back and
   * frees the lock. Default 10000.
   */
  shutdownTimeout?: number
  /** Max time to keep retrying while the database does not accept connections, or another connection keeps a SQLite file locked for the first read (ms). Default 30000. */
  connectTimeout?: number
  /**
   * PostgreSQL read replicas the app reads from: URLs, or postgres.js / node-postgres clients (never closed by the
   * migrator). Once the target is reached, `run()`/`migrate()` resolve only when every one has replayed past the
   * primary's WAL position taken after the last revision's commit (see `replicaTimeout`).
   */
  replicas?: Array<string | object>
  /** How long to wait for `replicas` to catch up (ms), then `REPLICA_LAG`. Default 120000. */
  replicaTimeout?: number
  /** Recorded as `applied_by` and in the lock connection's application_name. Default `host:pid`. */
  instanceId?: string
  /** `console` (default), a pino-style logger, or `false` for silence. */
  logger?: Logger | false
  /**
   * OpenTelemetry spans and metrics of each run (`@opentelemetry/api`, an optional peer: nothing when it is not
   * installed). Default: the global providers, when an SDK registered them; `false`: none.
   */
  telemetry?: TelemetryOption
  signal?: AbortSignal
}

/** `false`, or the providers to use instead of the global ones (an SDK's TracerProvider and MeterProvider). */
export type TelemetryOption =
  | false
  | {
      tracerProvider?: { getTracer(name: string, version?: string): unknown }
      meterProvider?: { getMeter(name: string, version?: string): unknown }
    }

export interface AppliedRevision {
  id: string
  name: string
  durationMs: number
}

export interface MigrateResult {
  /** Revisions this call applied, in order. */
  applied: AppliedRevision[]
  /** Id of the newest applied revision after the run, or null on an empty history. */
  current: string | null
  /** Id the run aimed for. */
  target: string | null
  /** Applied ids this code does not ship (the database is ahead: a newer deploy ran). */
  unknown: string[]
  /** True when another process had already done the work, or nothing was pending. */
  upToDate: boolean
  /**
   * Pending revisions this run left for `phase: 'contract'` (`boot-migrate up --contract`): the contract revisions,
   * and with `contractBlocks` every revision after the first of them. Empty with `phase: 'contract'`.
   */
  deferred: string[]
  /**
   * What the run let through and said so in the log: today, files adopted from another tool's history although
   * they changed after that tool applied them (see `takeover.strict`). Empty on every other run.
   */
  warnings: string[]
  durationMs: number
}

export type MigrationStatus =
  | 'idle'
  | 'starting'
  | 'waiting-for-database'
  | 'waiting-for-lock'
  | 'waiting-for-migration'
  | 'migrating'
  | 'waiting-for-replicas'
  | 'ready'
  | 'failed'

export interface HealthSnapshot {
  status: MigrationStatus
  ready: boolean
  current: string | null
  target: string | null
  pending: string[]
  /** Pending revisions left for `phase: 'contract'` (see MigrateResult.deferred): readiness does not wait for them. */
  deferred: string[]
  applying: {
    id: string
    name: string
    sinceMs: number
    /** While the revision runs ctx.batch: its progress so far; null otherwise. */
    batch: BatchProgress | null
  } | null
  error: { code: MigrationErrorCode; message: string } | null
  /** With the `replicas` option: each replica's lag behind the primary, while waiting for them and after. */
  replicas?: ReplicaHealth[]
}

/** One read replica in `health()`: how far behind it is, or why it could not be asked. */
export interface ReplicaHealth {
  /** Its URL without the password (or the client's host, port and database). */
  name: string
  /** Bytes of WAL it has still to replay; null while it cannot be asked. */
  lagBytes: number | null
  /** Seconds since the last transaction it replayed, while behind (0 once caught up); null while it cannot be asked. */
  lagSeconds: number | null
  caughtUp: boolean
  /** Why it could not be asked (unreachable, not a replica …), without secrets; null when it answered. */
  error: string | null
}

/** What `run:start` began, and what its span is named after (`boot-migrate.<operation>`). */
export type MigratorOperation = 'run' | 'down' | 'resolve'

export interface MigratorEvents {
  /**
   * An operation that takes the lock and runs revisions began: `run()`, `down()` or `resolve()` (not status,
   * stamp …). What its span starts from; `run` only ends in `ready` or `failed`, the others in their promise.
   */
  'run:start': { at: number; operation: MigratorOperation }
  'lock:wait': { holder: string | undefined; waitedMs: number }
  'lock:acquired': { waitedMs: number }
  /** `transaction`: whether the revision runs inside a transaction (false: statement by statement, outside one). */
  'migration:start': { id: string; name: string; direction?: 'up' | 'down'; transaction?: boolean }
  'migration:end': AppliedRevision
  /** After each batch of ctx.batch that changed rows, committed. */
  'batch:progress': { id: string; name: string } & BatchProgress
  /** A revision failed (its error follows in `failed` for a run); `code` is the MigrationError's. */
  'migration:failed': { id: string; name: string; direction: 'up' | 'down'; transaction: boolean; durationMs: number; code: MigrationErrorCode }
  ready: MigrateResult
  failed: MigrationError
}

export interface DownOptions {
  /** Revert every applied revision newer than this id (`'base'` reverts them all). */
  to?: string
  /** Revert this many of the newest applied revisions. Default 1 when `to` is not given. */
  steps?: number
}

export interface DownResult {
  reverted: AppliedRevision[]
  current: string | null
}

export interface RevisionStatus {
  id: string
  name: string
  /** `pending` (not applied), `applied`, or `running` (a no-transaction revision interrupted: dirty). */
  state: 'pending' | 'applied' | 'running'
  /** File or `migrations[i]`; null for an applied revision this code does not ship. */
  source: string | null
  appliedAt: string | null
  durationMs: number | null
  appliedBy: string | null
  /** The file changed after it was applied. */
  checksumMismatch: boolean
  /** Pending but sorts before an applied revision. */
  outOfOrder: boolean
  /** A down script exists, in the code or in the history. */
  reversible: boolean
  /** `contract` revisions are applied by `up --contract` only; null for an applied revision this code does not ship. */
  phase: RevisionPhase | null
}

export interface StatusReport {
  current: string | null
  /** Newest revision this code ships. */
  head: string | null
  revisions: RevisionStatus[]
  pending: string[]
  /** Applied ids this code does not ship. */
  unknown: string[]
  dirty: string[]
  /**
   * Before the first run on a database another migrator manages: what that run will take over from the tool's
   * history (those revisions show as applied here), or why it will refuse to.
   */
  takeover?: { tool: string; table: string; adopted: string[]; edited: string[]; refused?: string }
}

/** A revision as this code ships it. */
export interface LocalRevision {
  id: string
  name: string
  source: string
  transaction: boolean
  reversible: boolean
  checksum: string | null
  phase: RevisionPhase
}

/** The folder layouts boot-migrate reads: its own, and those of the tools it takes over from. */
export type MigrationFormat = 'boot-migrate' | 'drizzle' | 'prisma' | 'supabase' | 'flyway' | 'golang-migrate' | 'goose' | 'dbmate'

/**
 * How `resolve(id, …)` clears a dirty revision: `resume` runs the statements after its recorded progress (after
 * checking the recorded ones are unchanged in the file); `applied` / `rolled-back` record what a human fixed by hand.
 */
export type Resolution = 'applied' | 'rolled-back' | 'resume'

/** Options of `lint()`: where the revisions are, and which PostgreSQL they will run on. */
export interface LintOptions {
  /** Folder of revisions (any layout migrate() reads). */
  dir?: string
  /** Revisions given in code. */
  migrations?: RevisionInput[]
  format?: MigrationFormat
  /**
   * The PostgreSQL version the revisions will run on (`15`, `'15.4'`): some rules depend on it. Default: the server's
   * `server_version_num` when `url` or `client` is given, else 17.
   */
  serverVersion?: number | string
  /** Only read for the server's version. */
  url?: string
  client?: unknown
}

/** The linter's rules (README "Unsafe-DDL lint"); `syntax-error` is a statement PostgreSQL's parser cannot read. */
export type LintRule =
  | 'require-concurrent-index'
  | 'not-null-column-without-default'
  | 'column-default-rewrite'
  | 'column-type-rewrite'
  | 'require-not-valid'
  | 'unique-constraint-without-index'
  | 'set-not-null'
  | 'drop-column'
  | 'drop-table'
  | 'rename-table'
  | 'rename-column'
  | 'vacuum-full'
  | 'cluster'
  | 'enum-value-same-transaction'
  | 'syntax-error'

/** One unsafe statement: where it is, which rule, what it does, why that hurts, and the safe rewrite. */
export interface LintFinding {
  revision: string
  /** The revision's file, or `migrations[i]`. */
  file: string
  /** 1-based line of the statement in `file`. */
  line: number
  rule: LintRule
  message: string
  why: string
  fix: string
}

export interface LintReport {
  findings: LintFinding[]
  /** The PostgreSQL major version the rules assumed. */
  serverVersion: number
  /** SQL revisions read (function revisions are skipped: their SQL is not known before they run). */
  revisions: number
  statements: number
}
