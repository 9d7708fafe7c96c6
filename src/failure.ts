import { MigrationError, messageOf } from './errors.js'
import { label, type Revision } from './revisions/revision.js'
import type { Statement } from './revisions/split.js'

export type Outcome = 'rolled-back' | 'dirty' | 'nothing-applied'

const consequence: Record<Outcome, (r: Revision) => string> = {
  'rolled-back': () => 'The revision was rolled back: nothing of it is applied.',
  'nothing-applied': () => 'Nothing of it was applied.',
  dirty: (r) =>
    `It ran outside a transaction, so the statements before this one stay applied and the revision is marked dirty. ` +
    `Inspect the database, then run \`boot-migrate resolve ${r.id} --applied\` or \`--rolled-back\`.`,
}

/** The error for a failed revision: which file and line, what the database said, and what state it is in now. */
export function revisionFailure(
  revision: Revision,
  cause: unknown,
  outcome: Outcome,
  statement?: Statement,
  /** 1-based character offset of the error inside the statement, when the database gives one. */
  position?: number,
): MigrationError {
  const line = statement ? statement.line + (position ? statement.text.slice(0, position - 1).split('\n').length - 1 : 0) : undefined
  const where = line === undefined ? revision.source : `${revision.source}:${line}`
  const code = (cause as { code?: unknown })?.code
  const what = messageOf(cause) + (typeof code === 'string' && !messageOf(cause).includes(code) ? ` (${code})` : '')
  return new MigrationError('MIGRATION_FAILED', `Revision ${label(revision)} failed at ${where}: ${what}. ${consequence[outcome](revision)}`, {
    revision: revision.id,
    file: revision.source,
    ...(line === undefined ? {} : { line }),
    cause,
  })
}
