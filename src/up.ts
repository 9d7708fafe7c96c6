import { resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { historyUnderLock } from './core/create.js'
import { readRows } from './core/history.js'
import { refuseOutside, refuseTimeouts } from './core/apply.js'
import type { Dialect } from './dialects/dialect.js'
import { MigrationError } from './errors.js'
import type { Settings } from './options.js'
import { runsOutside } from './core/apply.js'
import { validate } from './core/validate.js'
import { plan, type HistoryRow, type Plan } from './plan.js'
import { awaitReplicas } from './core/replicas.js'
import { compareIds } from './revisions/ids.js'
import { isContract, label, type Revision } from './revisions/revision.js'
import type { Runner } from './runner.js'
import type { AppliedRevision, MigrateResult } from './types.js'
import { jitter, sleep } from './wait.js'

/** What reaching the target leaves: the result, and every revision id the history then has applied. */
interface Reached {
  result: MigrateResult
  /** Every revision id the history then has applied: computed only when replicas are asked about them. */
  appliedIds: () => string[]
}

/**
 * The boot path: one query when nothing is pending; otherwise lock, re-read, apply. With `replicas`, then (the lock
 * released) until every read replica has replayed the target: one query per replica when they have.
 */
export function up(r: Runner): Promise<MigrateResult> {
  return r.withDatabase(async (dialect, revisions, settings) => {
    const { result, appliedIds } = await reach(r, dialect, revisions, settings)
    if (settings.replicas.length) await awaitReplicas(r, dialect, settings, appliedIds())
    return result
  })
}

/** Brings the database to the target, or finds another process did; the replicas are up()'s. */
async function reach(r: Runner, dialect: Dialect, revisions: Revision[], settings: Settings): Promise<Reached> {
  const started = performance.now()
  const warnings: string[] = []
  const track = (p: Plan) => {
    r.state.current = p.current
    r.state.target = p.target
    r.state.pending = p.pending.map((x) => x.id)
    r.state.deferred = p.deferred.map((x) => x.id)
    return p
  }
  const finish = (p: Plan, applied: AppliedRevision[], upToDate: boolean, rows: HistoryRow[]): Reached => {
    const appliedIds = () => [...new Set([...rows.filter((h) => h.state === 'applied').map((h) => h.id), ...applied.map((a) => a.id)])]
    const current = applied.reduce<string | null>((c, a) => (c === null || compareIds(a.id, c) > 0 ? a.id : c), p.current)
    if (p.unknown.length)
      r.log.warn(`the database has revisions this code does not ship: ${p.unknown.join(', ')} (a newer deploy ran them; allowed)`, { unknown: p.unknown })
    const deferred = p.deferred.map((x) => x.id)
    if (deferred.length) r.log.info(deferredLine(p.deferred, settings), { deferred })
    return { result: { applied, current, target: p.target, unknown: p.unknown, upToDate, deferred, warnings, durationMs: Math.round(performance.now() - started) }, appliedIds }
  }

  // An option the database cannot keep fails every boot, not only the ones with work to do.
  if (settings.statementTimeout !== undefined) refuseTimeouts(dialect, settings, [])
  const rows = await r.reachable(dialect, settings, async () => (await readRows(dialect.app, dialect)) ?? [])
  let p = track(plan(revisions, rows, settings))
  // Booting "up to date" at an empty history from an empty folder is almost always a wrong path or a mount
  // that hides the files; it stays a boot (a new project starts so), but never a silent one.
  if (!revisions.length && !r.options.migrations && p.current === null && !p.running.length) {
    const folder = resolve(r.options.dir ?? './migrations')
    r.log.warn(
      `the migrations folder ${folder} holds no revision and the history in ${dialect.display} is empty: nothing was applied. ` +
        'If revisions were expected, check that dir points at the folder that holds the <id>_<name>.sql files.',
      { dir: folder },
    )
  }
  if (!p.pending.length && !p.running.length) return finish(p, [], true, rows)
  // Only the revisions that will run are split and checked: the applied ones were compared by checksum.
  validate(p.pending, dialect)
  // An empty revision applied today records its checksum and then refuses the SQL written into it tomorrow. Our
  // format only (dbmate's is the same): other tools' folders keep their tools' meaning.
  const empty = p.pending.find((x) => (!x.origin || x.origin.tool === 'dbmate') && x.up.kind === 'sql' && !x.up.statements.length)
  if (empty)
    throw new MigrationError(
      'INVALID_REVISION',
      `${empty.source}: the up section of revision ${label(empty)} is empty. Write its SQL before it is applied: once applied, its checksum ` +
        'is recorded and the file can no longer change. (A revision meant to do nothing says so with a statement such as "select 1;".)',
      { revision: empty.id, file: empty.source },
    )
  if (settings.mode === 'wait') {
    const reached = await waitForTarget(r, dialect, revisions, settings, track, p)
    return finish(reached.plan, [], true, reached.rows)
  }
  r.aborted('before migrating')
  refuseOutside(dialect, p.pending, 'up', 'Nothing was applied.')
  refuseTimeouts(dialect, settings, p.pending)

  return r.withLock(dialect, settings, async (conn, apply) => {
    const taken = await historyUnderLock(conn, dialect, settings, revisions, r.log)
    warnings.push(...taken.warnings)
    p = track(plan(revisions, taken.rows, settings))
    validate(p.pending, dialect)
    if (p.running.length) throw await r.dirty(p.running, revisions, conn, dialect)
    if (!p.pending.length) {
      r.log.info(`${dialect.display} is already at ${p.current ?? 'an empty history'}: another process applied the revisions`)
      return finish(p, [], true, taken.rows)
    }
    r.log.info(`applying ${p.pending.length} revision(s) to ${dialect.display}: ${p.pending.map(label).join(', ')}`)
    r.status('migrating')
    const applied: AppliedRevision[] = []
    const recordApplied = (group: Revision[], durations: number[]) => {
      const ids = new Set(group.map((x) => x.id))
      r.state.pending = r.state.pending.filter((id) => !ids.has(id))
      group.forEach((rev, i) => {
        const done = { id: rev.id, name: rev.name, durationMs: durations[i] ?? 0 }
        applied.push(done)
        r.state.current = rev.id
        r.log.info(`applied ${label(rev)} in ${done.durationMs} ms`, { revision: rev.id, durationMs: done.durationMs })
        r.emit('migration:end', done)
      })
    }
    const batched = settings.transaction === 'each'
    for (const group of groups(p.pending, settings, dialect, r.options.transaction === undefined)) {
      let durations: number[]
      try {
        durations = await apply(group, 'up')
      } catch (e) {
        // A batch (see groups) ends where a commit per revision would have: a statement of revision k failed, so
        // the revisions before it, rolled back with it, are applied again on their own (they ran a moment ago on
        // the same database, under the same lock), and the error is the failing revision's, as with 'each'.
        const k = batched && e instanceof MigrationError && e.code === 'MIGRATION_FAILED' && e.line !== undefined ? group.findIndex((x) => x.id === e.revision) : -1
        if (k <= 0) throw e
        r.log.info(`${label(group[k]!)} failed in a transaction shared with ${k} revision(s) before it: applying those again on their own`)
        const before = group.slice(0, k)
        recordApplied(before, await apply(before, 'up'))
        throw e
      }
      recordApplied(group, durations)
    }
    return finish(p, applied, false, taken.rows)
  })
}

/** What the boot left for after the rollout, and the command that applies it. */
function deferredLine(deferred: Revision[], settings: Settings): string {
  const contract = deferred.filter(isContract)
  const after = deferred.length - contract.length
  return (
    `${contract.length} contract revision(s) wait for \`boot-migrate up --contract\` (migrate({ phase: 'contract' })) after the rollout: ${contract.map(label).join(', ')}` +
    (settings.contractBlocks && after ? `; ${after} later revision(s) wait behind them (contractBlocks)` : '')
  )
}

/** `mode: 'wait'`: polls the history (one query each time) until another process has reached the target. */
async function waitForTarget(
  r: Runner,
  dialect: Dialect,
  revisions: Revision[],
  settings: Settings,
  track: (p: Plan) => Plan,
  first: Plan,
): Promise<{ plan: Plan; rows: HistoryRow[] }> {
  const since = Date.now()
  let last = first
  /** What is awaited: the pending revisions, and those marked running (by a process applying them now, or by one that died). */
  const awaited = (p: Plan) => [...p.running.map((x) => `${x.id} (marked running)`), ...p.pending.map(label)].join(', ')
  r.status('waiting-for-migration')
  r.log.info(`waiting for another process to apply ${awaited(first)} (mode: wait)`)
  for (let delay = 100; ; delay = Math.min(delay * 2, 500)) {
    const waited = Date.now() - since
    if (waited >= settings.waitTimeout) throw waitTimeout(last, revisions, waited)
    await sleep(Math.min(jitter(delay), settings.waitTimeout - waited), r.signal)
    r.aborted('while waiting for another process to migrate')
    const rows = await r.reachable(dialect, settings, async () => (await readRows(dialect.app, dialect)) ?? [])
    const p = track(plan(revisions, rows, settings))
    if (!p.pending.length && !p.running.length) return { plan: p, rows }
    last = p
  }
}

/**
 * Waiting ran out. A revision still marked running is named with the command that resolves it: a wait replica
 * cannot tell a slow no-transaction revision from one whose process died, but a human can.
 */
function waitTimeout(p: Plan, revisions: Revision[], waitedMs: number): MigrationError {
  const waited = `Waited ${Math.round(waitedMs / 1000)}s`
  if (p.running.length) {
    const first = p.running[0]!.id
    const names = p.running.map((row) => {
      const rev = revisions.find((x) => x.id === row.id)
      return rev ? `${label(rev)} (${rev.source})` : row.id
    })
    return new MigrationError(
      'DIRTY',
      `${waited} for another process to migrate, but the database is dirty: revision ${names.join(', ')} is marked running, so no process will apply ` +
        `${p.pending.length ? `it or ${p.pending.map(label).join(', ')}` : 'it'} until a human resolves it (unless a process is applying it right now). ` +
        `Run \`boot-migrate resolve ${first} --resume\` to run the statements it has not completed (\`boot-migrate up\` says which), or inspect the database and run ` +
        `\`boot-migrate resolve ${first} --applied\` if its effects are all there, or \`boot-migrate resolve ${first} --rolled-back\` once none are.`,
      { revision: first },
    )
  }
  return new MigrationError(
    'WAIT_TIMEOUT',
    `${waited} for another process to apply ${p.pending.map(label).join(', ')}; mode 'wait' never migrates. ` +
      'Check the process that should migrate (init container, CI job or a replica in mode "migrate").',
    { ...(p.pending[0] ? { revision: p.pending[0].id } : {}) },
  )
}

/** A statement whose effect outlives it on the connection (a PRAGMA, SET, ATTACH, a temporary table …): its revision runs alone. */
const SESSION = /^(?:pragma|set|reset|attach|detach|discard|load|listen|prepare|declare)\b|^create\s+temp(?:orary)?\b/i

/**
 * `each`: one group per revision; `all`: one group, which a no-transaction revision cannot join. When `transaction`
 * is not set and commits are what costs (capabilities.batchCommits: SQLite), consecutive SQL revisions that run in a
 * transaction and leave the session as they found it share one: one COMMIT for the run, as drizzle and knex do,
 * each revision's history row still in the transaction with its statements (exactly once: a kill rolls back
 * revisions and rows together). A failure ends where 'each' would (see up). A no-transaction revision, a function
 * revision and one with a PRAGMA or SET run in a transaction of their own.
 */
function groups(pending: Revision[], settings: Settings, dialect: Dialect, byDefault: boolean): Revision[][] {
  if (settings.transaction === 'each' && byDefault && dialect.capabilities.batchCommits) {
    const out: Revision[][] = []
    let open: Revision[] | undefined
    for (const rev of pending) {
      const alone = rev.up.kind !== 'sql' || runsOutside(dialect, rev, 'up') || rev.up.statements.some((st) => SESSION.test(st.text))
      if (alone) {
        out.push([rev])
        open = undefined
      } else if (open) open.push(rev)
      else out.push((open = [rev]))
    }
    return out
  }
  if (settings.transaction === 'each') return pending.map((x) => [x])
  const outside = pending.find((x) => !x.transaction)
  if (outside)
    throw new MigrationError(
      'INVALID_OPTIONS',
      `transaction: 'all' cannot include ${label(outside)} (${outside.source}), which must run outside a transaction. Apply it on its own, or use transaction: 'each'.`,
      { revision: outside.id, file: outside.source },
    )
  return pending.length ? [pending] : []
}
