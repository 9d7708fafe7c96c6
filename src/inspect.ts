import { refuseTimeouts, timeoutOf } from './core/apply.js'
import { validate } from './core/validate.js'
import { readEntries, readRows } from './core/history.js'
import { previewTakeover } from './core/takeover.js'
import { MigrationError } from './errors.js'
import { byPhase, plan } from './plan.js'
import { compareIds, spelled } from './revisions/ids.js'
import type { Runner } from './runner.js'
import type { LocalRevision, RevisionStatus, StatusReport } from './types.js'

const maxId = (ids: string[]) => ids.reduce<string | null>((m, id) => (m === null || compareIds(id, m) > 0 ? id : m), null)

/** Every revision, applied or pending, with when, how long and by whom; drift is reported, never thrown. */
export function status(r: Runner): Promise<StatusReport> {
  return r.withDatabase(async (dialect, revisions, settings) => {
    // All of them, as `check --url` reports: status is a look at the folder, not the boot path.
    validate(revisions, dialect)
    const details = await r.reachable(dialect, settings, () => readEntries(dialect.app, dialect))
    // Before the first run on a database another tool migrated: what that run would take over, so status does
    // not show the tool's applied migrations as pending.
    const preview = details.length || (await readRows(dialect.app, dialect)) !== null ? undefined : await previewTakeover(dialect.app, dialect, settings, revisions)
    const adopted = new Set(preview?.adopted)
    const byId = new Map(details.map((d) => [d.id, d]))
    const current = maxId([...details.filter((d) => d.state === 'applied').map((d) => d.id), ...[...adopted].map((x) => x.id)])
    const rows: RevisionStatus[] = revisions.map((rev) => {
      const d = byId.get(rev.id)
      return {
        id: rev.id,
        name: rev.name,
        state: d?.state ?? (adopted.has(rev) ? 'applied' : 'pending'),
        source: rev.source,
        appliedAt: d?.appliedAt.toISOString() ?? null,
        durationMs: d?.durationMs ?? null,
        appliedBy: d?.appliedBy ?? (adopted.has(rev) ? `${preview!.tool} (taken over on the first run)` : null),
        checksumMismatch: !!(d?.checksum && rev.checksum && d.checksum !== rev.checksum),
        // As plan(): a contract revision that waits for `up --contract` sorts before later expand revisions by design.
        outOfOrder: !d && current !== null && compareIds(rev.id, current) < 0 && rev.phase !== 'contract',
        reversible: !!rev.down || !!d?.downSql,
        phase: rev.phase ?? 'expand',
      }
    })
    const unknown = details.filter((d) => !revisions.some((x) => x.id === d.id))
    for (const d of unknown)
      rows.push({
        id: d.id,
        name: d.name,
        state: d.state,
        source: null,
        appliedAt: d.appliedAt.toISOString(),
        durationMs: d.durationMs,
        appliedBy: d.appliedBy,
        checksumMismatch: false,
        outOfOrder: false,
        reversible: !!d.downSql,
        phase: null,
      })
    rows.sort((a, b) => compareIds(a.id, b.id))
    return {
      current,
      head: maxId(revisions.map((x) => x.id)),
      revisions: rows,
      pending: rows.filter((x) => x.state === 'pending').map((x) => x.id),
      unknown: unknown.map((d) => d.id),
      dirty: rows.filter((x) => x.state === 'running').map((x) => x.id),
      ...(preview && {
        takeover: {
          tool: preview.tool,
          table: preview.table,
          adopted: preview.adopted.map((x) => x.id),
          edited: preview.edited.map((e) => e.revision.id),
          ...(preview.refused === undefined ? {} : { refused: preview.refused }),
        },
      }),
    }
  })
}

/**
 * The SQL `up` would send, history writes included. With `from`, no database is read (offline):
 * the script covers the revisions after `from` (`'base'`: all of them).
 */
export function script(r: Runner, opts: { from?: string; to?: string } = {}): Promise<string> {
  return r.withDatabase(async (dialect, revisions, settings) => {
    const ids = revisions.map((x) => x.id)
    const named = (id: string | undefined) => (id === undefined || id === 'base' ? id : spelled(id, ids))
    opts = { from: named(opts.from), to: named(opts.to) }
    for (const id of [opts.from, opts.to])
      if (id !== undefined && id !== 'base' && !revisions.some((x) => x.id === id))
        throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not in this code.`, { revision: id })
    const pending =
      opts.from !== undefined
        ? byPhase(revisions.filter((x) => (opts.from === 'base' || compareIds(x.id, opts.from!) > 0) && (opts.to === undefined || compareIds(x.id, opts.to) <= 0)), settings).run
        : plan(revisions, await r.reachable(dialect, settings, async () => (await readRows(dialect.app, dialect)) ?? []), { ...settings, to: opts.to }).pending
    validate(pending, dialect)
    // A timeout the database cannot keep is refused as a run refuses it; one it can keep is printed as a run sets it.
    refuseTimeouts(dialect, settings, pending)
    return dialect.script(pending.map((revision) => ({ revision, direction: 'up' as const, statementTimeout: timeoutOf(settings, revision)?.ms })))
  })
}

/** The revisions this code ships, parsed and checked; reads no database. */
export function revisions(r: Runner): Promise<LocalRevision[]> {
  return r.withDatabase(async (dialect, revs) => {
    // Every revision, applied or not: this is the command that checks them all.
    validate(revs, dialect)
    return revs.map((x) => ({ id: x.id, name: x.name, source: x.source, transaction: x.transaction, reversible: !!x.down, checksum: x.checksum, phase: x.phase ?? 'expand' }))
  })
}
