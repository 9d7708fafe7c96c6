import { MigrationError } from './errors.js'
import { compareIds, idKey, spelled } from './revisions/ids.js'
import { isContract, label, type Revision } from './revisions/revision.js'

export type RowState = 'running' | 'applied'

/** What the fast path reads: just enough to plan. */
export interface HistoryRow {
  id: string
  checksum: string | null
  state: RowState
}

/** A history row with every column: what `status` and `history` show, and where a down script is kept. */
export interface HistoryEntry extends HistoryRow {
  name: string
  appliedAt: Date
  durationMs: number | null
  appliedBy: string
  downSql: string | null
}

export interface Plan {
  /** What this run applies, in id order. */
  pending: Revision[]
  /** Pending revisions left for `phase: 'contract'` (MigrateResult.deferred); empty unless `phase: 'expand'`. */
  deferred: Revision[]
  /** Applied ids this code does not ship. */
  unknown: string[]
  /** Rows left `running` by a no-transaction revision: dirty unless their runner still holds the lock. */
  running: HistoryRow[]
  current: string | null
  target: string | null
}

export interface PlanOptions {
  allowOutOfOrder?: boolean
  to?: string
  /** `expand` defers contract revisions; absent or `contract`: every pending revision is planned. */
  phase?: 'expand' | 'contract'
  /** With `phase: 'expand'`: defer the first pending contract revision and every one after it. */
  contractBlocks?: boolean
}

const maxId = (ids: string[]) => ids.reduce<string | null>((m, id) => (m === null || compareIds(id, m) > 0 ? id : m), null)

/** Compares the local revisions with the history. Pure: throws on drift, returns what to do. */
export function plan(local: Revision[], history: HistoryRow[], opts: PlanOptions = {}): Plan {
  const byId = new Map(local.map((r) => [r.id, r]))
  const rows = new Map(history.map((h) => [h.id, h]))
  const applied = history.filter((h) => h.state === 'applied')

  for (const h of history) {
    const r = byId.get(h.id)
    // A dirty revision is reported as DIRTY, not as edited: its unapplied part may be fixed before `resolve --resume`,
    // which checks the hashes of its applied statements instead.
    if (r && h.state === 'applied' && h.checksum && r.checksum && h.checksum !== r.checksum)
      throw new MigrationError(
        'CHECKSUM_MISMATCH',
        `${r.source} was changed after it was applied (checksum ${h.checksum.slice(0, 12)} in the database, ${r.checksum.slice(0, 12)} in the file). ` +
          'Restore the file as it was applied and put the change in a new revision.',
        { revision: r.id, file: r.source },
      )
  }

  // Digit ids are numbers: a local 0001 next to a recorded 1 is that revision renamed (or a second one with its id),
  // never a new revision to apply again.
  const recorded = new Map(history.map((h) => [idKey(h.id), h]))
  for (const r of local) {
    const h = rows.has(r.id) ? undefined : recorded.get(idKey(r.id))
    if (h)
      throw new MigrationError(
        'INVALID_REVISION',
        `${r.source}: id ${r.id} is the number of revision ${h.id}, which the history records as ${h.state}; ids are compared as numbers, ` +
          `so this is that revision renamed, or another one with its id. Give the file the id ${h.id} again if it is the same revision, or a new id if it is not.`,
        { revision: r.id, file: r.source },
      )
  }

  const to = opts.to === undefined ? undefined : spelled(opts.to, [...byId.keys(), ...rows.keys()])
  if (to !== undefined && !byId.has(to) && !rows.has(to))
    throw new MigrationError('INVALID_OPTIONS', `Target revision ${to} is not one of the ${local.length} revisions found.`, { revision: to })

  const current = maxId(applied.map((h) => h.id))
  const target = to ?? maxId(local.map((r) => r.id)) ?? current
  const pending = local.filter((r) => !rows.has(r.id) && target !== null && compareIds(r.id, target) <= 0)

  if (!opts.allowOutOfOrder && current !== null) {
    // A contract revision waits by design while later expand revisions are applied: sorting before them is its
    // normal state, not a revision forgotten in a merge.
    const late = pending.filter((r) => compareIds(r.id, current) < 0 && !isContract(r))
    if (late.length)
      throw new MigrationError(
        'OUT_OF_ORDER',
        `${late.map(label).join(', ')} ${late.length > 1 ? 'are' : 'is'} pending but sort${late.length > 1 ? '' : 's'} before ${current}, which is already applied. ` +
          'Give the revision a newer id, or pass allowOutOfOrder: true if it is independent of the revisions after it.',
        { revision: late[0]!.id, file: late[0]!.source },
      )
  }

  const { run, deferred } = byPhase(pending, opts)
  return {
    pending: run,
    deferred,
    unknown: applied.filter((h) => !byId.has(h.id)).map((h) => h.id),
    running: history.filter((h) => h.state === 'running'),
    current,
    target,
  }
}

/**
 * Splits the pending revisions into those this run applies and those left for `phase: 'contract'`. By default a
 * deferred contract revision does not hold back the expand revisions after it (it drops what the new code no longer
 * reads, which they do not need); `contractBlocks` keeps strict id order, so the run stops before it.
 */
export function byPhase(pending: Revision[], opts: PlanOptions): { run: Revision[]; deferred: Revision[] } {
  if (opts.phase !== 'expand') return { run: pending, deferred: [] }
  if (opts.contractBlocks) {
    const first = pending.findIndex(isContract)
    return first === -1 ? { run: pending, deferred: [] } : { run: pending.slice(0, first), deferred: pending.slice(first) }
  }
  return { run: pending.filter((r) => !isContract(r)), deferred: pending.filter(isContract) }
}
