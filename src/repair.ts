import { record } from './core/create.js'
import type { Connection } from './core/connection.js'
import { batchOf, readProgress, readRows, settleStarted, statementHash, writeClearing } from './core/history.js'
import type { Dialect } from './dialects/dialect.js'
import { firstLine } from './failure.js'
import { label, stepOf, type Revision } from './revisions/revision.js'
import { MigrationError } from './errors.js'
import { compareIds, spelled } from './revisions/ids.js'
import type { Runner } from './runner.js'
import type { Resolution } from './types.js'

/** Records the revisions up to `id` as applied without running them: adopting a database made by hand or by another tool. */
export function stamp(r: Runner, given: string): Promise<string[]> {
  return r.withDatabase((dialect, revisions, settings) =>
    r.withLock(dialect, settings, async (conn) => {
      const id = spelled(given, revisions.map((x) => x.id))
      if (!revisions.some((x) => x.id === id)) throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not in this code.`, { revision: id })
      const rows = await readRows(conn, dialect)
      const running = (rows ?? []).filter((x) => x.state === 'running')
      if (running.length) throw await r.dirty(running, revisions, conn, dialect)
      const newer = (rows ?? []).filter((x) => compareIds(x.id, id) > 0).map((x) => x.id)
      if (newer.length)
        throw new MigrationError('INVALID_OPTIONS', `The database is past ${id} (${newer.join(', ')} applied); revert with down instead of stamping.`, { revision: id })
      const recorded = new Set((rows ?? []).map((x) => x.id))
      const targets = revisions.filter((x) => compareIds(x.id, id) <= 0 && !recorded.has(x.id))
      // The history rows carry the real checksums and down scripts; only the up steps are left out.
      await record(conn, dialect, settings, targets, rows === null || settings.takeover.keepHistory, revisions)
      r.log.info(`stamped ${dialect.display} at ${id}: recorded ${targets.length} revision(s) as applied without running them`)
      return targets.map((x) => x.id)
    }),
  )
}

/**
 * Clears a dirty revision. `applied` / `rolled-back` once a human has looked (its effects all there / none
 * left); `resume` checks the hashes of its recorded statements against the file, then runs the rest with the
 * same per-statement records and marks it applied (or reverted). Failing again leaves it dirty with the new progress.
 */
export function resolve(r: Runner, given: string, outcome: Resolution): Promise<void> {
  return r.withDatabase((dialect, revisions, settings) =>
    r.withLock(dialect, settings, async (conn, apply) => {
      const rows = (await readRows(conn, dialect)) ?? []
      const id = spelled(given, rows.map((x) => x.id))
      if (!rows.some((x) => x.id === id && x.state === 'running'))
        throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not dirty (no "running" history row); nothing to resolve.`, { revision: id })
      if (outcome === 'resume') return resume(r, dialect, revisions, conn, apply, id)
      // The progress table may predate nothing (a database of an earlier version): made sure of, then cleared with the row.
      await conn.query(dialect.history.progress.create)
      await writeClearing(conn, dialect, outcome === 'applied' ? dialect.history.markApplied : dialect.history.removeRunning, [id], 1, settings.ddlLockTimeout)
      r.log.info(outcome === 'applied' ? `marked ${id} as applied` : `removed the running row of ${id}; it runs again on the next boot`)
    }),
  )
}

async function resume(
  r: Runner,
  dialect: Dialect,
  revisions: Revision[],
  conn: Connection,
  apply: (group: Revision[], direction: 'up' | 'down', resumeFrom?: number) => Promise<number[]>,
  id: string,
): Promise<void> {
  const rev = revisions.find((x) => x.id === id)
  const byHand = `Inspect the database, then run \`boot-migrate resolve ${id} --applied\` if its effects are all there, or \`--rolled-back\` once none are.`
  if (!rev) throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is dirty but not in this code, so it cannot be resumed. ${byHand}`, { revision: id })
  const progress = await readProgress(conn, dialect, id)
  if (!progress)
    throw new MigrationError('INVALID_OPTIONS', `Revision ${label(rev)} (${rev.source}) has no recorded progress (an earlier version ran it), so it cannot be resumed. ${byHand}`, {
      revision: id,
      file: rev.source,
    })
  const step = stepOf(rev, progress.direction)
  if (step.kind === 'fn') {
    // Stopped in ctx.batch: its statement matches only the rows not yet done, so running the revision again goes on where it stopped.
    const inBatch = batchOf(progress)
    if (!inBatch)
      throw new MigrationError(
        'INVALID_OPTIONS',
        `Revision ${label(rev)} (${rev.source}) is a function revision, which records no per-statement progress: it cannot be resumed ` +
          `(only one interrupted inside ctx.batch can). ${byHand}`,
        { revision: id, file: rev.source },
      )
    r.log.info(
      `resuming ${label(rev)}: it stopped in ctx.batch after ${inBatch.batches} batch(es) / ${inBatch.rows} rows; running it again from the start ` +
        '(ctx.batch goes on with the rows its statement still matches)',
      { revision: id, ...inBatch },
    )
    r.status('migrating')
    return completed(r, rev, progress.direction, await apply([rev], progress.direction, 0))
  }
  // A statement recorded as starting: the schema says whether it completed (then it counts as applied and its text is
  // checked like theirs) or not (then its record goes and it runs again).
  const settled = await settleStarted(conn, dialect, progress, step.statements)
  const hashes = progress.started && settled ? [...progress.hashes, progress.started.hash] : progress.hashes
  if (progress.started && !settled) await conn.query(dialect.history.progress.forget, [id, progress.started.step])
  const done = hashes.length
  const section = progress.direction === 'up' ? '' : ' (its down section)'
  for (const [i, stored] of hashes.entries()) {
    const st = step.statements[i]
    if (st && statementHash(st.text) === stored) continue
    throw new MigrationError(
      'CHECKSUM_MISMATCH',
      st
        ? `${rev.source}:${st.line}: statement ${i + 1}${section} (${firstLine(st.text)}) was changed after it was applied (hash ${stored} recorded, ${statementHash(st.text)} in the file), ` +
            `so resuming after statement ${done} would not be resuming this revision. Restore statements 1..${done} as they ran (only the later ones may change), then resume; or ${byHand.charAt(0).toLowerCase()}${byHand.slice(1)}`
        : `${rev.source}${section} has ${step.statements.length} statement(s), but ${done} are recorded as applied: the file lost statements that ran. Restore them, then resume; or ${byHand.charAt(0).toLowerCase()}${byHand.slice(1)}`,
      { revision: id, file: rev.source, ...(st ? { line: st.line } : {}) },
    )
  }
  if (progress.started && settled !== undefined)
    r.log.info(
      `${label(rev)}: statement ${progress.hashes.length + 1} was interrupted and ${settled ? 'had completed (the schema changed since it started): not run again' : 'had not completed (the schema is as it was when it started): it runs again'}`,
      { revision: id },
    )
  r.log.info(`resuming ${label(rev)}${section} after statement ${done} of ${step.statements.length} (statements 1..${done} unchanged)`, { revision: id, done })
  r.status('migrating')
  completed(r, rev, progress.direction, await apply([rev], progress.direction, done))
}

/** Ends a resumed revision as up and down end theirs: the event closes its span and counts it. */
function completed(r: Runner, rev: Revision, direction: 'up' | 'down', [durationMs = 0]: number[]) {
  r.log.info(`${direction === 'up' ? 'applied' : 'reverted'} ${label(rev)}: resumed and completed`, { revision: rev.id, durationMs })
  r.emit('migration:end', { id: rev.id, name: rev.name, durationMs })
}
