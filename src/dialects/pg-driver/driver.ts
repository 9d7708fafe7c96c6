import type { DialectConfig } from '../dialect.js'

export type PgRow = Record<string, unknown>

/** A statement on its way: its rows, and a way to interrupt it where the driver has one. */
export type PgPending<Row = PgRow> = PromiseLike<Row[]> & { cancel?(): unknown }

/** Runs one statement with `$n` parameters or, without parameters, a script of several (the rows of the last). */
export type PgQuery = <Row = PgRow>(text: string, params?: readonly unknown[]) => PgPending<Row>

/** What runs inside a transaction the driver opened: the statements, and the driver object a function revision gets. */
export interface PgTx {
  query: PgQuery
  /** One statement without parameters, answering the number of rows it changed. */
  run(text: string): PromiseLike<number>
  driver: unknown
  /** A savepoint in this transaction, where the driver's own transaction needs one for a statement that may fail alone. */
  savepoint?<T>(work: (tx: PgTx) => Promise<T>): Promise<T>
}

/**
 * The one session the migration runs on, in the driver's own terms. The PostgreSQL connection
 * (postgres-connection.ts) is written against this, not against a driver, so that each client brings
 * only what it does differently: how to send, how to open a transaction, how it reports a closed socket.
 */
export interface PgSession extends PgTx {
  /** The driver's own transaction facility: commits when `work` resolves, rolls back when it rejects. */
  transaction<T>(work: (tx: PgTx) => Promise<T>): Promise<T>
  /** Called when the session's socket closes (never, where there is none); returns the unsubscribe. */
  onClose(listener: () => void): () => void
  /** Interrupts the statement in flight; a no-op where the driver cannot. */
  cancel(): void
  /**
   * The driver object for a function revision's `ctx.sql`, checked before each call with `check`: inside a
   * transaction (`inTx`), `begin`/`transaction` are savepoints or the same transaction, never a COMMIT of their own.
   */
  contextDriver(on: unknown, inTx: boolean, check: () => void): unknown
  /** A drizzle database on `on` (the session's or the transaction's driver object), for `ctx.db`. */
  drizzle(on: unknown, schema: Record<string, unknown> | undefined): Promise<unknown>
  /**
   * Set when the session is the app's own (PGlite: one backend per instance, no second session to open):
   * the advisory lock cannot tell two migrators of this process apart, so the lock is also taken in process.
   */
  sharedWith?: object
  /**
   * postgres.js: once the socket closed, a transaction callback must never settle (the driver would send its
   * ROLLBACK into a null socket and crash the process; the server has rolled back already). Others settle, so
   * that their own rollback runs (PGlite: and frees the instance for the app).
   */
  abandonOnLoss?: boolean
  /** Frees the session after the lock was released: ends it when it is ours alone. */
  release(): Promise<void>
  /** Closes it at once, so the server rolls back what is open and frees the session lock. */
  destroy(): Promise<void>
}

/** What a PostgreSQL client brings to the dialect: the app's side, the migration session, and what it can do. */
export interface PgDriver {
  /** The app's connection: the no-op read, status and schema. */
  app: PgQuery
  /** Where we migrate, for messages; never a password. */
  display: string
  /** A statement in flight can be interrupted (not on PGlite, whose single backend runs it to its end). */
  cancel: boolean
  /** Host and port of the app's client, for the warning on a pooler's usual host or port (a URL's are read from it). */
  endpoint?: { host?: string | undefined; port?: string | number | undefined }
  /** Opens the session that takes the lock and runs the revisions. */
  openSession(settings: PgSessionSettings): Promise<PgSession>
  /**
   * One statement on a connection other than the migration session, for what must be asked while it waits
   * (who blocks it); undefined where there is no other session.
   */
  aside?: PgQuery
  /** Whether an error says the connection is gone, in this driver's words (beyond SQLSTATE codes, which classifyPg reads). */
  lost?(error: unknown): boolean
  /** Closes what the driver opened; never a client the app passed. */
  close(): Promise<void>
}

export interface PgSessionSettings {
  applicationName: string
  config: DialectConfig
}

/** Seconds per connection attempt: 10, or less when the caller gives up sooner (a black-holed host would otherwise cost 10 s). */
export const connectSeconds = (config: DialectConfig) => Math.max(1, Math.min(10, Math.ceil((config.connectTimeout ?? 10_000) / 1000)))
