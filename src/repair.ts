import { record } from './core/create.js'
import { readRows } from './core/history.js'
import { MigrationError } from './errors.js'
import { compareIds, spelled } from './revisions/ids.js'
import type { Runner } from './runner.js'

/** Records the revisions up to `id` as applied without running them: adopting a database made by hand or by another tool. */
export function stamp(r: Runner, given: string): Promise<string[]> {
  return r.withDatabase((dialect, revisions, settings) =>
    r.withLock(dialect, settings, async (conn) => {
      const id = spelled(given, revisions.map((x) => x.id))
      if (!revisions.some((x) => x.id === id)) throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not in this code.`, { revision: id })
      const rows = await readRows(conn, dialect)
      const running = (rows ?? []).filter((x) => x.state === 'running')
      if (running.length) throw await r.dirty(running, revisions, conn)
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

/** Clears a dirty revision once a human has looked: `applied` if its effects are all there, `rolled-back` once none are. */
export function resolve(r: Runner, given: string, outcome: 'applied' | 'rolled-back'): Promise<void> {
  return r.withDatabase((dialect, _revisions, settings) =>
    r.withLock(dialect, settings, async (conn) => {
      const rows = (await readRows(conn, dialect)) ?? []
      const id = spelled(given, rows.map((x) => x.id))
      if (!rows.some((x) => x.id === id && x.state === 'running'))
        throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not dirty (no "running" history row); nothing to resolve.`, { revision: id })
      await conn.query(outcome === 'applied' ? dialect.history.markApplied : dialect.history.removeRunning, [id])
      r.log.info(outcome === 'applied' ? `marked ${id} as applied` : `removed the running row of ${id}; it runs again on the next boot`)
    }),
  )
}
