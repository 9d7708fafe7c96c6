import type { MigrationErrorCode } from '../errors.js'
import type { HealthState } from '../health.js'
import type { MigratorEvents, MigratorOperation, ReplicaHealth, Resolution } from '../types.js'

type On = <E extends keyof MigratorEvents>(event: E, listener: (payload: MigratorEvents[E]) => void) => unknown

/** What happened in one run(), down() or resolve(), as the events told it: what the spans and metrics are made from. */
export interface RunRecord {
  operation: MigratorOperation
  start: number
  end: number
  outcome: 'ready' | 'failed'
  code?: MigrationErrorCode
  /** When the lock was taken and how long it was waited for; absent when the run took no lock (nothing pending). */
  lock?: { end: number; waitedMs: number }
  revisions: RevisionRecord[]
  current: string | null
  target: string | null
  /** resolve(): the revision given and how it was resolved. */
  resolved?: { id: string; resolution: Resolution }
}

export interface RevisionRecord {
  id: string
  name: string
  direction: 'up' | 'down'
  transaction: boolean
  start: number
  end?: number
  durationMs?: number
  outcome?: 'applied' | 'reverted' | 'failed'
  code?: MigrationErrorCode
}

/**
 * The numbers behind metrics() and the OpenTelemetry instruments, kept from the migrator's events: a few
 * assignments per event, nothing on the no-op path beyond them.
 */
export interface Stats {
  runs: { ready: number; failed: number }
  last?: RunRecord
  /** Revisions applied (up) and reverted (down) by this process, and those that failed. */
  applied: number
  reverted: number
  failedRevisions: number
}

/** Each replica's lag (replica-aware readiness); none without the `replicas` option. */
export const replicasOf = (state: HealthState): ReplicaHealth[] => state.replicas ?? []

export type Settled = Pick<RunRecord, 'current' | 'target' | 'code' | 'resolved'>

/**
 * Keeps the stats from the events; `ended` is told each operation's record once it settles: run()'s at its
 * `ready` or `failed` event, down()'s and resolve()'s when `settle` is called (they have no end event).
 * Prometheus' run numbers (`runs`, `last`) stay run()'s.
 */
export function trackStats(on: On, ended: (run: RunRecord) => void): { stats: Stats; settle: (outcome: RunRecord['outcome'], extra: Settled) => void } {
  const stats: Stats = { runs: { ready: 0, failed: 0 }, applied: 0, reverted: 0, failedRevisions: 0 }
  let run: Pick<RunRecord, 'operation' | 'start' | 'lock' | 'revisions'> | undefined
  const open = (id: string) => run?.revisions.filter((r) => r.id === id && r.outcome === undefined).pop()
  const settle = (outcome: RunRecord['outcome'], extra: Settled) => {
    if (!run) return
    const record: RunRecord = { ...run, end: Date.now(), outcome, ...extra }
    run = undefined
    if (record.operation === 'run') stats.last = record
    ended(record)
  }
  const finish = (outcome: RunRecord['outcome'], extra: Settled) => {
    stats.runs[outcome]++
    if (run?.operation === 'run') settle(outcome, extra)
  }
  on('run:start', ({ at, operation }) => void (run = { operation, start: at, revisions: [] }))
  on('lock:acquired', ({ waitedMs }) => run && (run.lock = { end: Date.now(), waitedMs }))
  on('migration:start', (p) => run?.revisions.push({ id: p.id, name: p.name, direction: p.direction ?? 'up', transaction: p.transaction ?? true, start: Date.now() }))
  on('migration:end', (p) => {
    const r = open(p.id)
    if (r) Object.assign(r, { end: Date.now(), durationMs: p.durationMs, outcome: r.direction === 'down' ? 'reverted' : 'applied' })
    // down() and resolve() apply revisions outside run(): counted too, by the direction they were started in.
    if ((r?.direction ?? 'up') === 'up') stats.applied++
    else stats.reverted++
  })
  on('migration:failed', (p) => {
    stats.failedRevisions++
    const r = open(p.id)
    if (r) Object.assign(r, { end: Date.now(), durationMs: p.durationMs, outcome: 'failed', code: p.code })
  })
  on('ready', (r) => finish('ready', { current: r.current, target: r.target }))
  on('failed', (e) => finish('failed', { current: null, target: null, code: e.code }))
  return { stats, settle }
}
