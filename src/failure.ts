import { MigrationError, messageOf, type MigrationErrorCode } from './errors.js'
import { batchOf, type Progress } from './core/history.js'
import { label, stepOf, type Revision } from './revisions/revision.js'
import type { Statement } from './revisions/split.js'

/** What state a failed revision left the database in: the message says it, so the user knows what to do. */
export type Outcome =
  | { kind: 'rolled-back' }
  | { kind: 'nothing-applied' }
  /** A no-transaction revision stopped after `done` of its statements had completed. */
  /** `unrecorded`: statement `done` completed but its progress record did not reach the database. */
  /** `atomic`: statement `done + 1` ran in one transaction with its progress record, so the record says whether it completed. */
  /** `alreadyThere`: resuming, statement `done + 1` was run again and failed because its effect is already there. */
  /** `started`: statement `done + 1` was recorded as starting with the schema's digest, so the next run can tell whether it completed. */
  /** `notStarted`: recording that statement `done + 1` starts failed, so it did not run. */
  | { kind: 'dirty'; done?: number; total?: number; unsure?: boolean; unrecorded?: boolean; atomic?: boolean; alreadyThere?: boolean; started?: boolean; notStarted?: boolean }
  /** A function revision stopped in ctx.batch after `batches` committed batches that changed `rows` rows. */
  | { kind: 'in-batch'; batches: number; rows: number }
  /** The connection closed inside the revision's transaction; `committed` is what the history says now. */
  | { kind: 'connection-lost'; committed: boolean | undefined }

const range = (done: number) => (done === 1 ? 'statement 1 stays' : `statements 1..${done} stay`)

/** What `resolve --resume` does after `done` recorded statements. */
export function resumes(done: number, total?: number): string {
  const rest = total !== undefined && done + 1 === total ? `statement ${total}` : `statements ${done + 1}..${total ?? 'the last'}`
  const applied = done === 1 ? 'statement 1 of the file is' : `statements 1..${done} of the file are`
  if (total !== undefined && done >= total) return `checks that ${applied} unchanged, then only records the revision as done`
  return done === 0 ? `runs ${rest}` : `checks that ${applied} unchanged, then runs ${rest} (edit only those)`
}

/** What `resolve --resume` does with a function revision that stopped in ctx.batch. */
const batchResume =
  'it runs the revision again from the start, and ctx.batch goes on with the rows its statement still matches (the batches done no longer match); ' +
  'the code before ctx.batch runs again too, so it must be idempotent (e.g. `add column if not exists`)'

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
    case 'in-batch':
      return (
        `It ran outside a transaction: ctx.batch had committed ${o.batches} batch(es) (${o.rows} rows), each on its own, and the batch in flight was rolled back; ` +
        `the revision is marked dirty and is not run again by itself. Fix the cause, then run \`boot-migrate resolve ${r.id} --resume\`: ${batchResume}; ` +
        `or, after fixing the database by hand, ${resolve.charAt(0).toLowerCase()}${resolve.slice(1)}`
      )
    case 'dirty':
      if (o.alreadyThere && o.done !== undefined)
        return (
          `Statement ${o.done + 1} cannot run in a transaction, so it may have completed before without being recorded (a kill or a lost connection during it), ` +
          `and this failure says its effect is already there: resuming stopped, and the revision stays dirty (${o.done === 0 ? 'none of its statements recorded' : `${range(o.done).replace(/ stays?$/, '')} recorded`}). ` +
          `Check the schema: if everything the revision does is there, run \`boot-migrate resolve ${r.id} --applied\`; otherwise fix the database by hand ` +
          `(finish or undo statement ${o.done + 1}), then \`boot-migrate resolve ${r.id} --applied\` or \`--rolled-back\`.`
        )
      if (o.done === undefined)
        return `It ran outside a transaction, so what it did before failing stays applied and the revision is marked dirty. ${resolve}`
      return (
        `It ran outside a transaction: ${o.done === 0 ? 'none of its statements completed' : `${range(o.done)} applied`}` +
        (o.unsure
          ? `, and statement ${o.done + 1} may or may not have completed` +
            (o.started ? ' (it was recorded as starting with a digest of the schema: the next run compares the schema and says which)' : '')
          : '') +
        (o.notStarted ? `; statement ${o.done + 1} did not start` : '') +
        (o.atomic ? `; statement ${o.done + 1} ran in one transaction with its progress record, so the record says whether it completed` : '') +
        (o.unrecorded ? ` (the progress record says ${o.done - 1})` : '') +
        `; the revision is marked dirty and is not run again by itself. ` +
        `Fix the cause, then run \`boot-migrate resolve ${r.id} --resume\`: it ${resumes(o.unrecorded ? o.done - 1 : o.done, o.total)}; ` +
        `or, after fixing the database by hand, ${resolve.charAt(0).toLowerCase()}${resolve.slice(1)}`
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

/** The first line of a statement, shortened: enough to find it in the file. */
export const firstLine = (text: string) => {
  const line = text.split('\n', 1)[0]!.trim()
  return line.length > 80 ? `${line.slice(0, 77)}…` : line
}

const lines = (ls: number[]) => (ls.length === 1 ? `line ${ls[0]}` : `lines ${ls.join(', ')}`)

/**
 * What a DIRTY error says about a revision left `running`: which statement failed or was interrupted, which ones
 * are recorded as applied, and the two ways out. `progress` is null where none was recorded (an earlier version).
 */
export function dirtyAccount(
  id: string,
  rev: Revision | undefined,
  progress: Progress | null,
  how?: (statement: string) => 'atomic' | 'recorded-first' | 'unrecordable',
  settled?: boolean,
): string {
  const byHand = () =>
    `\`boot-migrate resolve ${id} --applied\` if its effects are all there, or \`boot-migrate resolve ${id} --rolled-back\` once none are.`
  if (!rev) return `Revision ${id} is marked running (it was interrupted outside a transaction), and this code does not ship it. Inspect the database, then run ${byHand()}`
  const direction = progress?.direction ?? 'up'
  const step = stepOf(rev, direction)
  const head = `Revision ${label(rev)} (${rev.source}) was interrupted while ${direction === 'up' ? 'running' : 'being reverted'} outside a transaction (its history row is still "running")`
  const inBatch = step.kind === 'fn' ? batchOf(progress) : undefined
  if (inBatch)
    return (
      `${head}: it stopped in ctx.batch${inBatch.call > 1 ? ` (its call ${inBatch.call})` : ''} after ${inBatch.batches} batch(es) / ${inBatch.rows} rows, each committed on its own. ` +
      `It is not run again by itself. Either run \`boot-migrate resolve ${id} --resume\`, which ${batchResume}, or fix the database by hand and run ${byHand()}`
    )
  if (!progress || step.kind === 'fn')
    return (
      `${head}, and some of its statements may have run, so it is not run again by itself` +
      (step.kind === 'fn' ? ' (a function revision records no per-statement progress).' : ' (no per-statement progress was recorded: an earlier version ran it).') +
      ` Inspect the database, then run ${byHand()}`
    )
  const total = step.statements.length
  // A statement recorded as starting that the schema shows completed counts as done: resume goes on after it.
  const done = progress.hashes.length + (progress.started && settled === true ? 1 : 0)
  const at = step.statements[done]
  const startedAt = progress.started && step.statements[progress.hashes.length]
  const settledNote =
    progress.started && settled !== undefined && startedAt
      ? `; statement ${progress.hashes.length + 1} at ${rev.source}:${startedAt.line} (${firstLine(startedAt.text)}) ` +
        (settled
          ? 'completed (the schema changed since it was recorded as starting, and DDL is atomic on this server)'
          : 'failed or was interrupted and did not complete (the schema is as it was when it started, and DDL is atomic on this server: it left nothing behind)')
      : ''
  const recordedAs = progress.started && settled ? 'applied' : 'recorded as applied'
  const applied = done === 0 ? `none of its statements is ${recordedAs}` : `${done === 1 ? 'statement 1' : `statements 1..${done}`} of ${total} ${done === 1 ? 'is' : 'are'} ${recordedAs} (${lines(step.statements.slice(0, done).map((s) => s.line))})`
  const kind = at && how ? how(at.text) : 'unrecordable'
  const next = at
    ? `; statement ${done + 1} at ${rev.source}:${at.line} (${firstLine(at.text)}) failed or was interrupted` +
      (kind === 'unrecordable'
        ? ` — it cannot run in a transaction, so it may have completed without being recorded (a kill or lost connection during it): if so, running it again fails (e.g. "already exists"), resume stops and says so; then check the schema and resolve by hand`
        : kind === 'atomic'
          ? ' (it runs in one transaction with its progress record: it did not complete)'
          : ' (it did not complete: such a statement is recorded as starting before it runs, and no such record is left: it failed leaving nothing, or never started)')
    : done === total
      ? ` (all of them): only its ${direction === 'up' ? 'applied' : 'reverted'} mark is missing`
      : `; the file has ${total} statement(s) now`
  const failed = settledNote && !settled ? settledNote : settledNote + next
  return (
    `${head}: ${applied}${failed}. It is not run again by itself. Either run \`boot-migrate resolve ${id} --resume\`, which ${resumes(done, total)}` +
    `, or fix the database by hand and run ${byHand()}`
  )
}
