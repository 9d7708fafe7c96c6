/** Stable error codes: match on these, never on messages. */
export type MigrationErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_REVISION'
  | 'DRIVER_MISSING'
  | 'DATABASE_UNREACHABLE'
  | 'CHECKSUM_MISMATCH'
  | 'OUT_OF_ORDER'
  | 'LOCK_TIMEOUT'
  | 'WAIT_TIMEOUT'
  | 'DDL_LOCK_TIMEOUT'
  | 'STATEMENT_TIMEOUT'
  | 'MIGRATION_FAILED'
  | 'DIRTY'
  | 'CONNECTION_LOST'
  | 'IRREVERSIBLE'
  | 'ROUND_TRIP_MISMATCH'
  | 'ADOPTION_MISMATCH'
  | 'ABORTED'
  | 'REPLICA_LAG'

export interface MigrationErrorDetails {
  /** Revision id the error is about. */
  revision?: string
  /** File (or `migrations[i]`) the revision came from. */
  file?: string
  /** 1-based line in `file` of the statement that failed. */
  line?: number
  cause?: unknown
}

export class MigrationError extends Error {
  readonly code: MigrationErrorCode
  readonly revision?: string
  readonly file?: string
  readonly line?: number

  constructor(code: MigrationErrorCode, message: string, details: MigrationErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'MigrationError'
    this.code = code
    if (details.revision !== undefined) this.revision = details.revision
    if (details.file !== undefined) this.file = details.file
    if (details.line !== undefined) this.line = details.line
  }
}

export const isMigrationError = (e: unknown, code?: MigrationErrorCode): e is MigrationError =>
  e instanceof MigrationError && (code === undefined || e.code === code)

export const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))
