import { performance } from 'node:perf_hooks'
import type { Dialect } from '../dialects/dialect.js'
import { MigrationError, messageOf } from '../errors.js'
import { revisionFailure } from '../failure.js'
import type { Log } from '../log.js'
import type { Settings } from '../options.js'
import { downSql, label, stepOf, type Revision, type Step } from '../revisions/revision.js'
import type { Statement } from '../revisions/split.js'
import type { BatchProgress, MigrationContext } from '../types.js'
import { batcher, fromBatch } from './batch.js'
import { jitter, sleep } from '../wait.js'
import { showDuration } from '../revisions/duration.js'
import { StatementFailure, type Connection, type Executor } from './connection.js'
import { keepRecord } from './takeover.js'
import { DOWN_MARK, readRows, rowValues, statementHash, writeClearing } from './history.js'

export type Direction = 'up' | 'down'

/** Everything applying needs: the locked connection, the dialect's statements and the reporting around them. */
export interface ApplyRun {
  dialect: Dialect
  conn: Connection
  settings: Settings
  signal: AbortSignal
  log: Log
  /** Rejects once a stop has waited shutdownTimeout and closed the connection: a revision that ignores the signal is abandoned. */
  abandoned: Promise<never>
  started(rev: Revision, direction: Direction): void
  /** A batch of the revision's ctx.batch committed: the call's progress so far. */
  batched(rev: Revision, progress: BatchProgress): void
  /** Set once the progress table was made sure of in this run. */
  progressReady?: boolean
}

const statementsOf = (step: Step) => (step.kind === 'sql' ? step.statements : [])

/** Yields to the event loop, so that a signal or stop() that arrived during synchronous work is seen. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * Applies one group in one direction: a single no-transaction revision, or revisions that share one
 * transaction. Returns each revision's duration.
 */
export async function applyGroup(run: ApplyRun, group: Revision[], direction: Direction, resumeFrom?: number): Promise<number[]> {
  await turn()
  if (run.signal.aborted) throw stopped(group[0]!, direction, 'before it started; nothing of it is applied')
  try {
    refuseOutside(run.dialect, group, direction, 'It was not started.')
    refuseTimeouts(run.dialect, run.settings, group)
    const alone = group.find((rev) => runsOutside(run.dialect, rev, direction))
    if (alone && group.length > 1)
      throw new MigrationError(
        'INVALID_OPTIONS',
        `transaction: 'all' cannot include ${label(alone)} (${alone.source}), which must run outside a transaction` +
          `${alone.transaction ? ` (on ${run.dialect.display} its DDL commits implicitly)` : ''}. Apply it on its own, or use transaction: 'each'.`,
        { revision: alone.id, file: alone.source },
      )
    return alone ? [await outside(run, alone, direction, resumeFrom)] : await inTransaction(run, group, direction)
  } finally {
    // A reset that fails must not hide why the revision failed; the next statement will say it.
    if (!run.conn.lost() && group.some((rev) => mayChangeSession(stepOf(rev, direction))))
      await run.conn.reset().catch((e) => run.log.warn(`resetting the session failed: ${messageOf(e)}`))
    // A timeout set on the session (a no-transaction revision; MySQL, which has no SET LOCAL) is put back.
    if (!run.conn.lost()) await run.conn.statementTimeout?.(undefined).catch((e) => run.log.warn(`putting back the statement timeout failed: ${messageOf(e)}`))
  }
}

/** A revision's statement timeout and where it was set: its own directive or export, else the option. */
export function timeoutOf(settings: Settings, rev: Revision): { ms: number; from: string } | undefined {
  const own = rev.statementTimeout
  if (own)
    return { ms: own.ms, from: own.line === undefined ? `the revision's statementTimeout` : `the -- migrate:statement-timeout directive at ${rev.source}:${own.line}` }
  return settings.statementTimeout === undefined ? undefined : { ms: settings.statementTimeout, from: 'the statementTimeout option' }
}

/** Where the database cannot cancel a statement that runs too long, a timeout is refused rather than silently not kept. */
export function refuseTimeouts(dialect: Dialect, settings: Settings, revisions: Revision[]): void {
  const can = dialect.capabilities.statementTimeout
  if (can === true) return
  const why = `${dialect.display} cannot cancel a statement that runs too long${can ? ` (${can})` : ''}`
  if (settings.statementTimeout !== undefined)
    throw new MigrationError('INVALID_OPTIONS', `"statementTimeout" cannot be kept: ${why}. Remove the option for this database.`)
  const rev = revisions.find((x) => x.statementTimeout)
  if (rev) {
    const line = rev.statementTimeout!.line
    const where = line === undefined ? rev.source : `${rev.source}:${line}`
    throw new MigrationError(
      'INVALID_REVISION',
      `${where}: revision ${label(rev)} sets a statement timeout, which cannot be kept: ${why}. Remove ${line === undefined ? 'its statementTimeout' : 'the -- migrate:statement-timeout line'}.`,
      { revision: rev.id, file: rev.source, ...(line === undefined ? {} : { line }) },
    )
  }
}

/** A statement ran past its timeout: never retried (it would run as long again), reported with the timeout and its origin. */
function timedOut(run: ApplyRun, rev: Revision, cause: unknown, outcome: Parameters<typeof revisionFailure>[2], statement?: Statement) {
  const t = timeoutOf(run.settings, rev)
  const why = new Error(`${messageOf(cause)}: it ran past the statement timeout of ${t ? `${showDuration(t.ms)} (${t.ms} ms, from ${t.from})` : 'the session'}`)
  Object.assign(why, { position: (cause as { position?: unknown })?.position })
  return revisionFailure(rev, why, outcome, statement, 'STATEMENT_TIMEOUT')
}

/**
 * Whether a revision runs statement by statement outside a transaction, with a running row and dirty accounting:
 * when it says so, or when a transaction could not undo it because the database commits implicitly around
 * some of its statements (DDL on MySQL). A function's statements cannot be seen, so on such a database it
 * runs outside too.
 */
export function runsOutside(dialect: Dialect, rev: Revision, direction: Direction): boolean {
  if (!rev.transaction) return true
  if (dialect.capabilities.transactionalDdl) return false
  const step = stepOf(rev, direction)
  return step.kind === 'fn' || step.statements.some((st) => dialect.implicitCommit(st.text))
}

/**
 * Where the migration lock lasts one transaction (a transaction pooler), every revision runs inside it: one that
 * must run outside a transaction is refused, before anything of it runs or is recorded.
 */
export function refuseOutside(dialect: Dialect, revisions: Revision[], direction: Direction, what: string): void {
  if (dialect.capabilities.lockScope !== 'transaction') return
  const alone = revisions.find((rev) => runsOutside(dialect, rev, direction))
  if (!alone) return
  const step = stepOf(alone, direction)
  const why = step.kind === 'sql' ? step.statements.map((st) => dialect.nonTransactional(st.text)).find(Boolean) : undefined
  throw new MigrationError(
    'INVALID_OPTIONS',
    `Revision ${label(alone)} (${alone.source}) must run outside a transaction${why ? ` (${why})` : ''}, but through a transaction pooler ` +
      "(pooler: 'transaction') the migration lock lasts one transaction and every revision runs inside it. " +
      `${what} Pass migrationUrl with a direct connection (to PostgreSQL itself, or a session pooler): the lock and the revisions then run there, ` +
      'and the pooler serves only the boot check.',
    { revision: alone.id, file: alone.source },
  )
}

/**
 * Whether a step may leave session state behind (SET, set_config, RESET, DISCARD, temp tables, LISTEN,
 * PREPARE, DECLARE, PRAGMA …): a function may do anything; SQL is checked by keyword, erring on the side of a reset.
 */
const SESSION_WORDS = /\b(set|reset|set_config|discard|temp|temporary|listen|prepare|declare|load|pragma|role|authorization|begin)\b/i
const mayChangeSession = (step: Step) => step.kind === 'fn' || SESSION_WORDS.test(step.text)

const stopped = (rev: Revision, direction: Direction, what: string) =>
  new MigrationError('ABORTED', `Stopped ${direction === 'up' ? 'applying' : 'reverting'} ${label(rev)} ${what}.`, { revision: rev.id, file: rev.source })

/** A function revision's context. */
async function contextOf(run: ApplyRun, rev: Revision, tx: Executor | undefined): Promise<MigrationContext> {
  return {
    ...(await run.conn.context(tx)),
    dialect: run.dialect.name,
    revision: { id: rev.id, name: rev.name },
    log: (m, f) => run.log.info(`${label(rev)}: ${m}`, f),
    signal: run.signal,
    batch: batcher(run, rev, tx === undefined && !rev.transaction),
  }
}

/** With takeover.keepHistory, records the revision in its old tool's table too, in the same transaction. */
async function keepOld(run: ApplyRun, on: Executor, rev: Revision, direction: Direction) {
  for (const [text, params] of keepRecord(run.dialect, run.settings, rev, direction)) await on.query(text, params)
}

/** The revisions and their history rows in one transaction, retried whole when it waited too long for a table lock. */
async function inTransaction(run: ApplyRun, group: Revision[], direction: Direction): Promise<number[]> {
  const { conn, dialect, settings } = run
  const h = dialect.history
  const flat = group.flatMap((rev) => statementsOf(stepOf(rev, direction)).map((statement) => ({ rev, statement })))
  const statements = flat.map((x) => x.statement.text)
  for (let attempt = 0; ; attempt++) {
    let at: { rev: Revision; statement?: Statement } = { rev: group[0]! }
    try {
      return await watchBlockers(run, () =>
        conn.transaction(
          async (tx) => {
            const durations: number[] = []
            for (const [i, rev] of group.entries()) {
              // Between revisions sharing a transaction (SQLite batches them), a stop() that came during a synchronous
              // statement is seen here: the whole transaction rolls back rather than commit revisions after the stop.
              if (i > 0) {
                await turn()
                if (run.signal.aborted)
                  throw new MigrationError(
                    'ABORTED',
                    `Stopped before ${direction === 'up' ? 'applying' : 'reverting'} ${label(rev)}; the transaction it shared with ${group.slice(0, i).map(label).join(', ')} was rolled back: none of them changed.`,
                    { revision: rev.id, file: rev.source },
                  )
              }
              at = { rev }
              run.started(rev, direction)
              await conn.statementTimeout?.(timeoutOf(settings, rev)?.ms, tx)
              const t0 = performance.now()
              const step = stepOf(rev, direction)
              // Alone in its transaction, a SQL revision's history row goes with its statements, timed by the database.
              const timed = step.kind === 'sql' && group.length === 1 && direction === 'up' && h.insertTimed
              let recorded: Promise<unknown> | undefined
              if (step.kind === 'sql') {
                const ran = tx.batch(step.statements.map((s) => s.text))
                if (timed) (recorded = tx.query(timed, rowValues(rev, 'applied', settings.instanceId, null).slice(0, 6))).catch(() => undefined)
                try {
                  await ran
                } catch (e) {
                  if (e instanceof StatementFailure) at = { rev, statement: step.statements[e.index]! }
                  throw e
                }
              } else await Promise.race([step.fn(await contextOf(run, rev, tx)), run.abandoned, conn.whenLost])
              const duration = Math.round(performance.now() - t0)
              if (recorded) await recorded
              else if (direction === 'up') await tx.query(h.insert, rowValues(rev, 'applied', settings.instanceId, duration))
              else await tx.query(h.remove, [rev.id])
              await keepOld(run, tx, rev, direction)
              durations.push(duration)
            }
            // Never commit what ran without the lock (a lock file taken over, a connection replaced).
            const lost = conn.lost()
            if (lost) throw new Error(lost)
            return durations
          },
          { lockTimeout: settings.ddlLockTimeout, statements },
        ),
      )
    } catch (e) {
      // A failure the dialect found around the statements (SQLite's foreign_key_check) names one of the group's.
      if (e instanceof StatementFailure && !at.statement && flat[e.index]) at = flat[e.index]!
      const cause = e instanceof StatementFailure ? e.cause : e
      if (cause instanceof MigrationError) throw withRevision(cause, at.rev)
      const kind = dialect.classify(cause)
      // Stopped before COMMIT was sent: cancelled, or abandoned and its connection closed. Either way the server rolled it back.
      if (run.signal.aborted) throw stopped(at.rev, direction, `(${messageOf(cause)}); it was rolled back: nothing of it changed`)
      if (kind === 'connection-lost') throw await lostInTransaction(run, at.rev, cause, direction, at.statement)
      if (kind === 'statement-timeout') throw timedOut(run, at.rev, cause, { kind: 'rolled-back' }, at.statement)
      const lost = conn.lost()
      if (lost)
        throw new MigrationError(
          'MIGRATION_FAILED',
          `The migration lock on ${dialect.display} was lost while applying ${label(at.rev)} (${lost}): another process may be migrating. ` +
            'Stopped before doing more; the revision was rolled back. Run again.',
          { revision: at.rev.id, file: at.rev.source, cause },
        )
      if (kind === 'lock-conflict') {
        if (attempt < settings.ddlRetries) {
          await backoff(run, group, attempt, cause)
          continue
        }
        throw ddlTimeout(run, group, attempt, cause, 'Nothing of it is applied.')
      }
      if (await recordedElsewhere(run, at.rev, direction)) throw doneElsewhere(run, at.rev, cause)
      const role = at.statement ? undefined : roleChanged(run, at.rev, direction, cause)
      if (role)
        throw new MigrationError('MIGRATION_FAILED', `${role} The revision was rolled back: nothing of it is applied.`, { revision: at.rev.id, file: at.rev.source, cause })
      throw revisionFailure(at.rev, cause, { kind: 'rolled-back' }, at.statement)
    }
  }
}

/** Did another process record the revision meanwhile? Asked only after a failure, on the app's connection. */
async function recordedElsewhere(run: ApplyRun, rev: Revision, direction: Direction): Promise<boolean> {
  const rows = await readRows(run.dialect.app, run.dialect).catch(() => null)
  const recorded = !!rows?.some((r) => r.id === rev.id)
  return direction === 'up' ? recorded : rows !== null && !recorded
}

const doneElsewhere = (run: ApplyRun, rev: Revision, cause: unknown) =>
  new MigrationError(
    'MIGRATION_FAILED',
    `Revision ${label(rev)} was recorded by another process while this one was migrating ${run.dialect.display}: the migration lock was taken over ` +
      '(a lock file not refreshed for lockStale ms counts as abandoned, e.g. when a process is paused that long). Nothing was run twice; this attempt was rolled back. Run again.',
    { revision: rev.id, file: rev.source, cause },
  )

/** A MigrationError raised inside a function revision (by its context) names that revision. */
const withRevision = (e: MigrationError, rev: Revision) =>
  e.revision ? e : new MigrationError(e.code, `${rev.source}: ${e.message}`, { revision: rev.id, file: rev.source, cause: e.cause })

/**
 * The connection closed inside a transaction. The server rolls back an open transaction when its
 * connection goes, but a COMMIT that was sent may have landed: the history, read on a new connection, says which.
 */
async function lostInTransaction(run: ApplyRun, rev: Revision, cause: unknown, direction: Direction, statement?: Statement) {
  const { dialect } = run
  // On a loaded server the app's connection may be going through the same restart: a few tries.
  let rows: Awaited<ReturnType<typeof readRows>> | undefined
  for (let attempt = 0; rows === undefined && attempt < 4; attempt++) {
    if (attempt) await sleep(250 * attempt)
    rows = await readRows(dialect.app, dialect).catch(() => undefined)
  }
  const recorded = rows === undefined ? undefined : (rows ?? []).some((r) => r.id === rev.id)
  const committed = recorded === undefined ? undefined : direction === 'up' ? recorded : !recorded
  return revisionFailure(rev, new Error(`the connection to ${dialect.display} closed (${messageOf(cause)})`), { kind: 'connection-lost', committed }, statement)
}

/**
 * A revision outside a transaction: its row is `running` while it runs. Each statement commits on its own,
 * so once one has run the revision is never retried from the start: a lock conflict retries that statement
 * alone (it did nothing), anything else leaves the revision dirty with an exact account of what ran. Each
 * completed statement is recorded in the progress table (its step and a hash of its text), so a dirty
 * revision can be resumed after its last recorded statement: `from` is that count, when resuming.
 */
async function outside(run: ApplyRun, rev: Revision, direction: Direction, from?: number): Promise<number> {
  const { conn, dialect, settings } = run
  const h = dialect.history
  const p = h.progress
  const resuming = from !== undefined
  run.started(rev, direction)
  const t0 = performance.now()
  try {
    if (!resuming) {
      // Once per run, under the lock: databases of earlier versions get the table when they first need it.
      if (!run.progressReady) await conn.query(p.create)
      run.progressReady = true
      if (direction === 'up') await conn.query(h.insert, rowValues(rev, 'running', settings.instanceId, null))
      else
        // The down mark goes with the running state: a dirty row says which way it was going.
        await conn.transaction(
          async (tx) => {
            await tx.query(p.clear, [rev.id])
            await tx.query(p.add, [rev.id, 0, DOWN_MARK])
            await tx.query(h.markRunning, [rev.id])
          },
          { lockTimeout: settings.ddlLockTimeout, statements: [] },
        )
    }
  } catch (e) {
    if (dialect.classify(e) === 'duplicate') throw doneElsewhere(run, rev, e)
    // None of its statements ran; whether the running row reached the database, the next boot's history says.
    throw revisionFailure(rev, e, { kind: 'nothing-applied' }, undefined, dialect.classify(e) === 'connection-lost' || conn.lost() ? 'CONNECTION_LOST' : 'MIGRATION_FAILED')
  }
  /** Undo the running row (and the progress with it): nothing of the revision ran. */
  const clean = () =>
    writeClearing(conn, dialect, direction === 'up' ? h.removeRunning : h.markApplied, [rev.id], 1, settings.ddlLockTimeout)
  const step = stepOf(rev, direction)
  const timeout = timeoutOf(settings, rev)
  // On the session, after the running row (which it must not bound); applyGroup puts it back.
  if (timeout)
    await conn.statementTimeout!(timeout.ms).catch(async (e: unknown) => {
      await clean().catch(() => undefined)
      throw revisionFailure(rev, e, { kind: 'nothing-applied' }, undefined, dialect.classify(e) === 'connection-lost' || conn.lost() ? 'CONNECTION_LOST' : 'MIGRATION_FAILED')
    })
  if (step.kind === 'fn') {
    try {
      await Promise.race([step.fn(await contextOf(run, rev, undefined)), run.abandoned, conn.whenLost])
    } catch (e) {
      if ((e instanceof MigrationError && e.code === 'ABORTED') || fromBatch(e)) throw e
      const lost = dialect.classify(e) === 'connection-lost' || conn.lost()
      if (!lost && !run.signal.aborted && dialect.classify(e) === 'statement-timeout') throw timedOut(run, rev, e, { kind: 'dirty' })
      throw revisionFailure(rev, e, { kind: 'dirty' }, undefined, lost ? 'CONNECTION_LOST' : run.signal.aborted ? 'ABORTED' : 'MIGRATION_FAILED')
    }
  } else {
    const total = step.statements.length
    for (let k = from ?? 0; k < total; k++) {
      const st = step.statements[k]!
      if (run.signal.aborted) {
        if (k === 0 && !resuming) await clean()
        throw revisionFailure(rev, new Error('stopped'), k === 0 && !resuming ? { kind: 'nothing-applied' } : { kind: 'dirty', done: k, total }, st, 'ABORTED')
      }
      run.log.debug(`${label(rev)}: statement ${k + 1}/${total} (${rev.source}:${st.line})`, { revision: rev.id, statement: k + 1, total })
      const waits = dialect.waitsForLocks(st.text)
      // A statement that can run in a transaction runs in one with its progress record: after any crash it is
      // either applied and recorded, or neither. The last one is recorded too (the history write then clears it).
      const atomic = inTransactionWithRecord(dialect, st.text)
      // One that commits implicitly but is atomic on its own (DDL on MySQL 8, MariaDB 10.6+) is recorded before it runs,
      // with a digest of the objects it names: after a crash during it, a changed digest says it completed.
      let recorded = false
      let started = false
      if (!atomic && dialect.schemaDigest) {
        const write = async () => {
          // A failed digest costs only exactness: the statement is then recorded after it completes, as on servers
          // without atomic DDL.
          const before = await dialect.schemaDigest!(conn, st.text).catch((e: unknown) => {
            if (dialect.classify(e) === 'connection-lost' || conn.lost()) throw e
            run.log.warn(`${label(rev)}: reading the digest before statement ${k + 1} failed (${messageOf(e)}); it is recorded after it completes instead`)
            return undefined
          })
          if (before === undefined) return false
          // A progress table made by an earlier version has no before_schema column: recorded after, as before.
          return conn.query(p.intend, [rev.id, k + 1, statementHash(st.text), before]).then(
            () => true,
            (e: unknown) => (/before_schema/.test(messageOf(e)) && !conn.lost() ? false : Promise.reject(e)),
          )
        }
        started = await recordProgress(run, rev, k, total, st, write, 'starting')
      }
      for (let attempt = 0; ; attempt++) {
        try {
          if (atomic) {
            await watchBlockers(run, () =>
              conn.transaction(
                async (tx) => {
                  await tx.query(st.text)
                  await tx.query(p.add, [rev.id, k + 1, statementHash(st.text)])
                },
                { lockTimeout: settings.ddlLockTimeout, statements: [st.text] },
              ),
            )
            recorded = true
          } else {
            await conn.setLockTimeout(waits ? 0 : settings.ddlLockTimeout)
            await watchBlockers(run, () => conn.query(st.text))
          }
          break
        } catch (err) {
          const e = err instanceof StatementFailure ? err.cause : err
          const kind = dialect.classify(e)
          if (kind === 'connection-lost' || conn.lost())
            throw revisionFailure(
              rev,
              new Error(`the connection to ${dialect.display} closed (${messageOf(e)})`),
              atomic ? { kind: 'dirty', done: k, total, atomic: true } : { kind: 'dirty', done: k, total, unsure: true, started },
              st,
              'CONNECTION_LOST',
            )
          if (kind === 'lock-conflict' && !run.signal.aborted) {
            if (attempt < settings.ddlRetries) {
              await backoff(run, [rev], attempt, e, k + 1)
              continue
            }
            if (k === 0 && !resuming) {
              await clean()
              throw ddlTimeout(run, [rev], attempt, e, 'Nothing of it is applied.')
            }
            throw ddlTimeout(run, [rev], attempt, e, '', { kind: 'dirty', done: k, total }, st)
          }
          // A statement is atomic on its own, so a first statement that failed did nothing; a concurrent
          // index build is the exception: it leaves an invalid index behind. When resuming, statements before
          // this one are applied (or, unrecorded, may be): the revision stays dirty with its progress.
          const code = run.signal.aborted ? 'ABORTED' : 'MIGRATION_FAILED'
          const timeoutHit = !run.signal.aborted && kind === 'statement-timeout'
          // The server answered with an error: an atomic statement left nothing, so its record of starting goes.
          if (started) await conn.query(p.forget, [rev.id, k + 1]).catch(() => undefined)
          if (k === 0 && !waits && !resuming) {
            await clean()
            throw timeoutHit ? timedOut(run, rev, e, { kind: 'nothing-applied' }, st) : revisionFailure(rev, e, { kind: 'nothing-applied' }, st, code)
          }
          if (timeoutHit) throw timedOut(run, rev, e, { kind: 'dirty', done: k, total }, st)
          // Resuming, the first statement run again failed because its effect is there: it had completed unrecorded.
          if (resuming && k === from && !atomic && code === 'MIGRATION_FAILED' && dialect.effectPresent?.(e))
            throw revisionFailure(rev, e, { kind: 'dirty', done: k, total, alreadyThere: true }, st, code)
          // Resuming, a statement outside a transaction run again may have completed unrecorded before: not "none completed".
          throw revisionFailure(rev, e, { kind: 'dirty', done: k, total, unsure: resuming && k === from && !atomic }, st, code)
        }
      }
      // Any other statement outside a transaction is recorded after it; the last one's record is the history write below.
      if (!recorded && !started && k + 1 < total)
        await recordProgress(run, rev, k, total, st, async () => (await conn.query(p.add, [rev.id, k + 1, statementHash(st.text)]), true), 'completed')
    }
  }
  const duration = Math.round(performance.now() - t0)
  try {
    if (direction === 'up') await writeClearing(conn, dialect, h.finish, [duration, rev.checksum, downSql(rev), rev.id], 4, settings.ddlLockTimeout)
    else await writeClearing(conn, dialect, h.remove, [rev.id], 1, settings.ddlLockTimeout)
    await keepOld(run, conn, rev, direction)
  } catch (e) {
    if (dialect.classify(e) === 'connection-lost' || conn.lost()) {
      const n = step.kind === 'sql' ? `all ${step.statements.length} of its statements` : 'its function'
      // The write may have landed before the connection closed: the history, read on the app's connection, says.
      const rows = await readRows(dialect.app, dialect).catch(() => undefined)
      const row = rows === undefined ? undefined : (rows ?? []).find((r) => r.id === rev.id)
      if (rows !== undefined && (direction === 'up' ? row?.state === 'applied' : !row))
        throw new MigrationError(
          'CONNECTION_LOST',
          `Revision ${label(rev)} (${rev.source}): ${n} ran outside a transaction, and the connection to ${dialect.display} closed while recording it as ` +
            `${direction === 'up' ? 'applied' : 'reverted'} (${messageOf(e)}), after that write landed: the history shows it ${direction === 'up' ? 'applied' : 'reverted'}. Run again to continue.`,
          { revision: rev.id, file: rev.source, cause: e },
        )
      throw new MigrationError(
        'CONNECTION_LOST',
        `Revision ${label(rev)} (${rev.source}): ${n} ran outside a transaction, but the connection to ${dialect.display} closed while recording it as ` +
          `${direction === 'up' ? 'applied' : 'reverted'} (${messageOf(e)}), so that mark may not have landed: if the history still says "running", the revision is dirty ` +
          `with its statements applied. Check the schema, then run \`boot-migrate resolve ${rev.id} --applied\` if everything is there` +
          `${step.kind === 'sql' ? ` (or \`boot-migrate resolve ${rev.id} --resume\`, which checks the recorded statements and runs what is not recorded)` : ''}, or fix it by hand.`,
        { revision: rev.id, file: rev.source, cause: e },
      )
    }
    const role = roleChanged(run, rev, direction, e)
    if (role)
      throw new MigrationError(
        'MIGRATION_FAILED',
        `${role} Its statements ran outside a transaction and stay applied, but its history row is still "running", so the database is dirty: ` +
          `fix the revision, then run \`boot-migrate resolve ${rev.id} --applied\`.`,
        { revision: rev.id, file: rev.source, cause: e },
      )
    throw e
  }
  return duration
}

/**
 * Writes a progress record of statement k+1, `starting` (before it runs) or `completed` (after): retried while another
 * writer holds SQLite's write lock (the write did nothing); any other failure leaves the revision dirty, saying where.
 */
async function recordProgress(run: ApplyRun, rev: Revision, k: number, total: number, st: Statement, write: () => Promise<boolean>, when: 'starting' | 'completed') {
  const { conn, dialect, settings } = run
  for (let attempt = 0; ; attempt++) {
    try {
      return await write()
    } catch (e) {
      if (dialect.classify(e) === 'lock-conflict' && !run.signal.aborted && attempt < settings.ddlRetries) {
        await backoff(run, [rev], attempt, e, k + 1, 'its progress record')
        continue
      }
      const lost = dialect.classify(e) === 'connection-lost' || conn.lost()
      throw revisionFailure(
        rev,
        new Error(`recording that statement ${k + 1} ${when === 'starting' ? 'starts' : 'completed'} failed (${messageOf(e)})`),
        when === 'starting' ? { kind: 'dirty', done: k, total, notStarted: true } : { kind: 'dirty', done: k + 1, total, unrecorded: true },
        st,
        lost ? 'CONNECTION_LOST' : 'MIGRATION_FAILED',
      )
    }
  }
}

/** Transaction control, PRAGMAs, ATTACH/DETACH and DISCARD ALL refuse a transaction around them or change what it means: they run on their own. */
const OWN = /^(begin|commit|rollback|savepoint|release|start\s+transaction|end|pragma|xa|attach|detach|discard\s+all)\b/i

/**
 * Whether a statement of a no-transaction revision can run in a transaction together with its progress record:
 * not one that commits implicitly (DDL on MySQL) nor one refused inside a transaction (CREATE INDEX CONCURRENTLY, VACUUM …).
 * Only those others can complete without being recorded.
 */
export function inTransactionWithRecord(dialect: Dialect, text: string): boolean {
  const t = text.trim()
  // SET ROLE: the record would be written as that role. A SELECT on SQLite changes nothing, so it needs no transaction
  // (and one would take the write lock for as long as it reads).
  if (OWN.test(t) || SETS_ROLE.test(t) || (dialect.name === 'sqlite' && /^select\b/i.test(t)) || dialect.nonTransactional(t)) return false
  return dialect.capabilities.transactionalDdl || !dialect.implicitCommit(t)
}

/** SET ROLE / SET SESSION AUTHORIZATION in a revision's SQL (LOCAL included: it lasts until the history row is written too). */
const SETS_ROLE = /\bset\s+(session\s+|local\s+)?(role|session\s+authorization)\b/i

/**
 * A permission error on the history table right after a revision that changed the role: the row was written
 * as that role. Said plainly, since "permission denied for table boot_migrate_history" points the wrong way.
 */
function roleChanged(run: ApplyRun, rev: Revision, direction: Direction, cause: unknown): string | undefined {
  const step = stepOf(rev, direction)
  if ((cause as { code?: unknown })?.code !== '42501' || !messageOf(cause).includes(run.settings.table)) return undefined
  if (step.kind === 'sql' && !SETS_ROLE.test(step.text)) return undefined
  return (
    `Revision ${label(rev)} (${rev.source}) changed the role${step.kind === 'sql' ? ' with SET ROLE' : ''}, and that role was still in force when boot-migrate ` +
    `recorded the revision in its history table, which that role may not write (${messageOf(cause)}). ` +
    'End the revision with RESET ROLE (SET LOCAL ROLE would last until its transaction ends, and the history row is written in that transaction), ' +
    'or grant that role INSERT, UPDATE and DELETE on the history table.'
  )
}

/** Waits before retrying what hit a lock conflict, naming who held the lock. */
export async function backoff(run: ApplyRun, group: Revision[], attempt: number, cause: unknown, statement?: number, what = '') {
  const wait = jitter(Math.min(500 * 2 ** attempt, 10_000))
  const who = blockersOf(cause)
  run.log.warn(
    `${group.map(label).join(', ')}${statement ? ` statement ${statement}` : ''}${what ? ` (${what})` : ''} waited over ${run.settings.ddlLockTimeout} ms for a lock held by ${who.length ? who.join('; ') : 'another session'}; ` +
      `retry ${attempt + 1}/${run.settings.ddlRetries} in ${wait} ms${statement ? ' (that statement alone: it did nothing)' : ''}`,
    { blockers: who },
  )
  await sleep(wait, run.signal)
}

export function ddlTimeout(run: ApplyRun, group: Revision[], attempt: number, cause: unknown, applied: string, dirty?: Parameters<typeof revisionFailure>[2], st?: Statement) {
  const who = blockersOf(cause)
  const rev = group[0]!
  const why = new Error(
    `could not get its table locks within ddlLockTimeout (${run.settings.ddlLockTimeout} ms) in ${attempt + 1} attempts; blocked by ${who.length ? who.join('; ') : 'another session'}`,
  )
  if (dirty) return revisionFailure(rev, why, dirty, st, 'DDL_LOCK_TIMEOUT')
  return new MigrationError(
    'DDL_LOCK_TIMEOUT',
    `Revision ${group.map(label).join(', ')} ${why.message}. ${applied} End the blocking transaction or retry when the database is quieter.`,
    { revision: rev.id, file: rev.source, cause },
  )
}

const BLOCKERS = Symbol('blockers')
const blockersOf = (e: unknown): string[] => ((e as { [BLOCKERS]?: string[] })?.[BLOCKERS] ?? []) as string[]

/**
 * Runs `work`, asking who blocks the connection while it still waits: once the statement gives up the
 * server no longer knows. The answer rides on the error, for the log line and the message.
 */
export async function watchBlockers<T>(run: ApplyRun, work: () => Promise<T>): Promise<T> {
  let blockers: string[] = []
  let asking: Promise<unknown> | undefined
  const watch = setTimeout(
    () => void (asking = run.conn.blockers().then((b) => void (blockers = b), () => undefined)),
    Math.max(10, run.settings.ddlLockTimeout * 0.6),
  )
  try {
    return await work()
  } catch (e) {
    // The answer may still be on its way on a loaded server: worth a short wait for the log line's sake.
    if (asking) await Promise.race([asking, sleep(2000)])
    if (e && typeof e === 'object') (e as { [BLOCKERS]?: string[] })[BLOCKERS] = blockers
    const inner = e instanceof StatementFailure ? e.cause : undefined
    if (inner && typeof inner === 'object') (inner as { [BLOCKERS]?: string[] })[BLOCKERS] = blockers
    throw e
  } finally {
    clearTimeout(watch)
  }
}
