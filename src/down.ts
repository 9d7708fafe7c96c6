import { readEntries } from './core/history.js'
import { validate } from './core/validate.js'
import type { Dialect } from './dialects/dialect.js'
import { MigrationError } from './errors.js'
import type { HistoryEntry } from './plan.js'
import { compareIds, spelled } from './revisions/ids.js'
import { label, type Revision } from './revisions/revision.js'
import { splitStatements } from './revisions/split.js'
import type { Runner } from './runner.js'
import type { AppliedRevision, DownOptions, DownResult } from './types.js'

/** Reverts the newest applied revisions, newest first, each with the lock and transaction handling of `up`. */
export function down(r: Runner, opts: DownOptions = {}): Promise<DownResult> {
  const { steps } = opts
  if (opts.to !== undefined && steps !== undefined) throw new MigrationError('INVALID_OPTIONS', 'Pass "to" or "steps" to down(), not both.')
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) throw new MigrationError('INVALID_OPTIONS', '"steps" must be a whole number >= 1.')
  return r.withDatabase((dialect, revisions, settings) =>
    r.withLock(dialect, settings, async (conn, apply) => {
      const details = await readEntries(conn, dialect)
      const running = details.filter((d) => d.state === 'running')
      if (running.length) throw await r.dirty(running, revisions, conn, dialect)
      const applied = details.filter((d) => d.state === 'applied').sort((a, b) => compareIds(b.id, a.id))
      const to = opts.to === undefined || opts.to === 'base' ? opts.to : spelled(opts.to, [...applied, ...revisions].map((x) => x.id))
      if (to !== undefined && to !== 'base' && !applied.some((a) => a.id === to) && !revisions.some((x) => x.id === to))
        throw new MigrationError('INVALID_OPTIONS', `Target revision ${to} is neither applied nor in this code.`, { revision: to })
      const targets = to === undefined ? applied.slice(0, steps ?? 1) : applied.filter((a) => to === 'base' || compareIds(a.id, to) > 0)
      // Every down script is found before the first one runs, so a missing one stops nothing half-way.
      const work = targets.map((entry) => reversible(entry, revisions, dialect))
      validate(work, dialect)
      if (work.length) {
        r.log.info(`reverting ${work.map(label).join(', ')} on ${dialect.display}`)
        r.status('migrating')
      }
      const reverted: AppliedRevision[] = []
      for (const rev of work) {
        const [durationMs = 0] = await apply([rev], 'down')
        reverted.push({ id: rev.id, name: rev.name, durationMs })
        r.log.info(`reverted ${label(rev)} in ${durationMs} ms`, { revision: rev.id, durationMs })
        r.emit('migration:end', { id: rev.id, name: rev.name, durationMs })
      }
      const left = applied.filter((a) => !reverted.some((x) => x.id === a.id))
      return { reverted, current: left[0]?.id ?? null }
    }),
  )
}

/** The revision with the down step to run: the code's, or the one kept in the history when the code no longer ships it. */
function reversible(entry: HistoryEntry, local: Revision[], dialect: Dialect): Revision {
  const rev = local.find((x) => x.id === entry.id)
  // A file edited after it was applied is refused here as `up` refuses it: its down script was written for
  // what the file says now, not for what ran.
  if (rev && entry.checksum && rev.checksum && entry.checksum !== rev.checksum)
    throw new MigrationError(
      'CHECKSUM_MISMATCH',
      `${rev.source} was changed after it was applied (checksum ${entry.checksum.slice(0, 12)} in the database, ${rev.checksum.slice(0, 12)} in the file), ` +
        'so its down script may not undo what ran; nothing was reverted. Restore the file as it was applied, then run down again.',
      { revision: rev.id, file: rev.source },
    )
  if (rev?.down) return rev
  if (!rev && entry.downSql) {
    const statements = splitStatements(entry.downSql, dialect.syntax)
    return {
      id: entry.id,
      name: entry.name,
      source: `the history (${entry.id} is not in this code)`,
      checksum: entry.checksum,
      transaction: !statements.some((s) => dialect.nonTransactional(s.text)),
      up: { kind: 'sql', text: '', statements: [] },
      down: { kind: 'sql', text: entry.downSql, statements },
    }
  }
  throw new MigrationError(
    'IRREVERSIBLE',
    `${rev ? `${label(rev)} (${rev.source})` : `${entry.id}_${entry.name}`} has no down script${rev ? '' : ' in the code or in the history'}, so it cannot be reverted. ` +
      'Write a new revision that undoes it instead.',
    { revision: entry.id, ...(rev ? { file: rev.source } : {}) },
  )
}
