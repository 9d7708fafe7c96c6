import { MigrationError, messageOf, type MigrationErrorCode } from './errors.js'
import { label, type Revision } from './revisions/revision.js'
import type { Statement } from './revisions/split.js'

/** What state a failed revision left the database in: the message says it, so the user knows what to do. */
export type Outcome =
  | { kind: 'rolled-back' }
  | { kind: 'nothing-applied' }
  /** A no-transaction revision stopped after `done` of its statements had completed. */
  | { kind: 'dirty'; done?: number; total?: number; unsure?: boolean }
  /** The connection closed inside the revision's transaction; `committed` is what the history says now. */
  | { kind: 'connection-lost'; committed: boolean | undefined }

const range = (done: number) => (done === 1 ? 'statement 1 stays' : `statements 1..${done} stay`)

function consequence(r: Revision, o: Outcome): string {
  const resolve = `Inspect the database, then run \`boot-migrate resolve ${r.id} --applied\` or \`--rolled-back\`.`
  switch (o.kind) {
    case 'rolled-back':
      return 'The revision was rolled back: nothing of it is applied.'
    case 'nothing-applied':
      return 'Nothing of it was applied.'
    case 'connection-lost':
      return o.committed === true
        ? 'The connection closed after COMMIT reached the server: the history shows the revision applied. Run again to continue.'
        : o.committed === false
          ? 'The revision was rolled back: the server rolls back an open transaction when its connection closes, and the history confirms nothing of it is applied. Run again.'
          : 'The revision was rolled back by the server when its connection closed (the history could not be read to confirm it). Run again: it is planned from the history.'
    case 'dirty':
      if (o.done === undefined)
        return `It ran outside a transaction, so what it did before failing stays applied and the revision is marked dirty. ${resolve}`
      return (
        `It ran outside a transaction: ${o.done === 0 ? 'none of its statements completed' : `${range(o.done)} applied`}` +
        (o.unsure ? `, and statement ${o.done + 1} may or may not have completed` : '') +
        `; the revision is marked dirty and is not run again by itself. ${resolve}`
      )
  }
}

/** The error for a failed revision: which file and line, what the database said, and what state it is in now. */
export function revisionFailure(
  revision: Revision,
  cause: unknown,
  outcome: Outcome,
  statement?: Statement,
  code: MigrationErrorCode = outcome.kind === 'connection-lost' ? 'CONNECTION_LOST' : 'MIGRATION_FAILED',
): MigrationError {
  // 1-based character offset of the error inside the statement, where the database gives one (PostgreSQL).
  const position = Number((cause as { position?: unknown })?.position) || undefined
  const line = statement ? statement.line + (position ? statement.text.slice(0, position - 1).split('\n').length - 1 : 0) : undefined
  const where = line === undefined ? revision.source : `${revision.source}:${line}`
  const c = (cause as { code?: unknown })?.code
  const what = messageOf(cause) + (typeof c === 'string' && !messageOf(cause).includes(c) ? ` (${c})` : '')
  return new MigrationError(code, `Revision ${label(revision)} failed at ${where}: ${what}. ${consequence(revision, outcome)}`, {
    revision: revision.id,
    file: revision.source,
    ...(line === undefined ? {} : { line }),
    cause,
  })
}
