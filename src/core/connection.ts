import type { MigrationContext } from '../types.js'

/** What an error from the database means to the algorithm. Each dialect maps its own codes onto these. */
export type ErrorKind =
  /** Waited too long for a table lock (lock_timeout, SQLITE_BUSY): the statement did nothing, it may be retried. */
  | 'lock-conflict'
  /** The connection closed: what was not committed is gone with it, and so is the session lock. */
  | 'connection-lost'
  /** The server is not accepting connections yet (starting, restarting, too many clients). */
  | 'transient'
  /** The history table does not exist yet. */
  | 'missing-table'
  /** A statement ran past the statement timeout we set (not a cancel by stop(), not a lock wait): never retried. */
  | 'statement-timeout'
  /** A statement after a failed one in the same transaction: not the cause. */
  | 'aborted-transaction'
  /** A unique key was violated: for a history row, another process recorded the revision. */
  | 'duplicate'
  | 'other'

/** A statement of a batch failed: `index` says which one, `cause` is the driver's error. */
export class StatementFailure extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause))
  }
}

/** Runs statements on one connection, or inside one transaction on it. */
export interface Executor {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>
  /** Runs the statements in order (pipelined where the driver can); rejects with a StatementFailure for the first that failed. */
  batch(statements: readonly string[]): Promise<void>
  /**
   * One statement, answering how many rows it changed (what ctx.batch counts to know when it is done). The migration
   * connection and its transactions have it on every driver; an app's executor need not.
   */
  run?(text: string): Promise<{ rows: number }>
  /**
   * Inside a transaction, where the driver has savepoints: runs `work` in one, rolled back alone when `work` rejects
   * (the enclosing transaction goes on). What a transaction pooler's run needs (core/transaction-lock.ts).
   */
  nested?<T>(work: (tx: Executor) => Promise<T>): Promise<T>
}

export interface TransactionOptions {
  /** How long a statement may wait for a table lock before it fails as a lock conflict (ms). */
  lockTimeout: number
  /** The statements the transaction will run, for dialects that must prepare around them (SQLite foreign-key rebuilds). */
  statements: readonly string[]
}

/**
 * The one connection a migration runs on: it holds the lock, and every statement of a revision and its
 * history row go through it. It never reconnects: once it has closed, every call rejects as `connection-lost`.
 */
export interface Connection extends Executor {
  /** The driver's own transaction: commits when `work` resolves, rolls back when it rejects. */
  transaction<T>(work: (tx: Executor) => Promise<T>, options: TransactionOptions): Promise<T>
  /** What a function revision receives: inside `tx` when it has one, else on the bare connection. */
  context(tx: Executor | undefined): Promise<Pick<MigrationContext, 'sql' | 'db' | 'exec' | 'query'>>
  /** Rejects when the connection or its lock is lost: what waits on a revision waits on this too. */
  whenLost: Promise<never>
  /** How long the next statements outside a transaction may wait for a table lock; 0 waits as long as it takes. */
  setLockTimeout(ms: number): Promise<void>
  /**
   * Bounds how long each following statement may run (ms): for the rest of `tx` when given, else on the session;
   * `undefined` puts back the session's own value (a no-op when nothing was changed, so callers may always call it).
   * Present where `capabilities.statementTimeout` is.
   */
  statementTimeout?(ms: number | undefined, tx?: Executor): Promise<void>
  /** One attempt at the migration lock; never blocks. */
  tryLock(): Promise<boolean>
  /** Who holds the lock, for logs and LOCK_TIMEOUT. */
  lockHolder(): Promise<string | undefined>
  /** Sessions that block this connection right now, described for a log line. */
  blockers(): Promise<string[]>
  /** What an interrupted no-transaction revision may have left behind, with how to clean it up. */
  leftovers(): Promise<string[]>
  /** Puts back session settings a revision changed (search_path, role, pragmas), so the next one starts clean. */
  reset(): Promise<void>
  /** Interrupts the statement in flight; a no-op where the driver cannot. */
  cancel(): void
  /** Why the connection or its lock is gone, or undefined while both are ours. */
  lost(): string | undefined
  /**
   * Where the lock lasts one transaction (`capabilities.lockScope: 'transaction'`): commits what was done under it.
   * Rejects when that commit may not have landed. Absent where each revision commits on its own.
   */
  finish?(): Promise<void>
  /** Frees the lock and the connection. */
  close(): Promise<void>
  /** Closes the connection at once, so the server rolls back what is open and frees the lock. */
  destroy(): Promise<void>
}

export interface Capabilities {
  /** DDL rolls back with the transaction (PostgreSQL, SQLite; not MySQL). */
  transactionalDdl: boolean
  /** A statement in flight can be cancelled (PostgreSQL; not better-sqlite3, which runs it to its end). */
  cancel: boolean
  /**
   * How long the migration lock lasts: a session (the default), or one transaction, when the migration connection
   * goes through a transaction pooler. Then everything under the lock is that one transaction, committed at the
   * end, and a revision that must run outside a transaction is refused before anything runs.
   */
  lockScope?: 'session' | 'transaction'
  /**
   * A commit costs far more than a revision's statements (SQLite: journal and database synced to disk on every
   * COMMIT, ~10 ms, nothing else on the connection to wait for). When `transaction` is not set, consecutive pending
   * SQL revisions then share one transaction (src/up.ts, groups), each with its history row in it.
   */
  batchCommits?: boolean
  /**
   * The server can cancel a statement that runs too long: `true`, or why not, for the refusal of a statement timeout
   * (SQLite, PGlite: nothing interrupts their statements).
   */
  statementTimeout?: true | string
}

/** The migration connection closed: every later call on it rejects with this. */
export class ConnectionLost extends Error {
  readonly code = 'BOOT_MIGRATE_CONNECTION_LOST'
}

/** A connection's loss, recorded once: `whenLost` rejects then, and `why()` says what happened. */
export function lossOf() {
  let why: string | undefined
  let fail!: (e: Error) => void
  const whenLost = new Promise<never>((_, reject) => (fail = reject))
  whenLost.catch(() => undefined)
  const lose = (reason: string) => {
    if (why) return
    why = reason
    fail(new ConnectionLost(reason))
  }
  return { whenLost, lose, why: () => why }
}
