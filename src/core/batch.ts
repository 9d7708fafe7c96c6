import { performance } from 'node:perf_hooks'
import { MigrationError, messageOf } from '../errors.js'
import { revisionFailure } from '../failure.js'
import { label, type Revision } from '../revisions/revision.js'
import { splitStatements } from '../revisions/split.js'
import type { BatchOptions, BatchResult } from '../types.js'
import { sleep } from '../wait.js'
import { backoff, ddlTimeout, watchBlockers, type ApplyRun } from './apply.js'
import { StatementFailure } from './connection.js'
import { batchMark } from './history.js'

/** The placeholder a batch statement names its size with: exactly this spelling, so that a typo is refused, not run unbounded. */
const PLACEHOLDER = /\$size\b/
/** An UPDATE or DELETE, possibly behind comments or a WITH. */
const KIND = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(update|delete|with)\b/i

/** Errors ctx.batch raises already say what state the revision is in: the revision's runner passes them on as they are. */
const own = new WeakSet<Error>()
export const fromBatch = (e: unknown): e is MigrationError => e instanceof MigrationError && own.has(e)
const mark = (e: MigrationError) => (own.add(e), e)

/**
 * `ctx.batch` of one run of a function revision. `outside` is whether the revision runs outside a transaction
 * (`transaction = false`): only there can each batch commit on its own.
 */
export function batcher(run: ApplyRun, rev: Revision, outside: boolean): (statement: string, options: BatchOptions) => Promise<BatchResult> {
  let calls = 0
  return async (statement, options) => {
    const refuse = (why: string) =>
      mark(
        outside
          ? revisionFailure(rev, new Error(why), { kind: 'dirty' }, undefined, 'INVALID_REVISION')
          : new MigrationError('INVALID_REVISION', `Revision ${label(rev)} (${rev.source}): ${why} The revision was rolled back: nothing of it is applied.`, {
              revision: rev.id,
              file: rev.source,
            }),
      )
    if (!outside)
      throw refuse(
        'ctx.batch commits each batch on its own: it runs only in a revision outside a transaction. ' +
          'Add `export const transaction = false` to the revision (`transaction: false` in `migrations`).',
      )
    if (typeof statement !== 'string' || !KIND.test(statement) || splitStatements(statement, run.dialect.syntax).length !== 1)
      throw refuse('ctx.batch takes one UPDATE or DELETE statement (it repeats it until it changes no row).')
    if (!PLACEHOLDER.test(statement))
      throw refuse(
        'the statement of ctx.batch has no `$size`: it must limit each batch to the rows not yet done, with `$size` where the batch size goes, ' +
          'e.g. `update t set b = lower(a) where id in (select id from t where b is null limit $size)`.',
      )
    const size = options?.size
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1) throw refuse(`ctx.batch's size must be a positive integer (got ${JSON.stringify(size) ?? String(size)}).`)
    const pauseMs = options.pauseMs ?? 0
    if (typeof pauseMs !== 'number' || !Number.isFinite(pauseMs) || pauseMs < 0) throw refuse(`ctx.batch's pauseMs must be a number of milliseconds, 0 or more (got ${String(pauseMs)}).`)

    const text = statement.replace(/\$size\b/g, String(size))
    const { conn, dialect, settings } = run
    const p = dialect.history.progress
    const call = ++calls
    let batches = 0
    let rows = 0
    const dirty = (cause: unknown, code: 'MIGRATION_FAILED' | 'ABORTED' | 'CONNECTION_LOST' | 'DDL_LOCK_TIMEOUT') =>
      mark(revisionFailure(rev, cause, { kind: 'in-batch', batches, rows }, undefined, code))
    /** This call's progress record, replaced in the transaction `on` (that of a batch, so the record and the batch commit together). */
    const record = async (on: { query(text: string, params?: readonly unknown[]): Promise<unknown> }, b: number, r: number) => {
      await on.query(p.forget, [rev.id, call])
      await on.query(p.add, [rev.id, call, batchMark(b, r)])
    }

    // Recorded before the first batch: a crash during it still shows the revision was in ctx.batch, which is what makes it resumable.
    try {
      await conn.transaction((tx) => record(tx, 0, 0), { lockTimeout: settings.ddlLockTimeout, statements: [] })
    } catch (e) {
      throw dirty(e, dialect.classify(e) === 'connection-lost' || conn.lost() ? 'CONNECTION_LOST' : 'MIGRATION_FAILED')
    }
    const t0 = performance.now()
    run.log.debug(`${label(rev)}: ctx.batch ${call}: ${text}`, { revision: rev.id })
    for (;;) {
      if (run.signal.aborted) throw dirty(new Error('stopped between batches'), 'ABORTED')
      let changed = 0
      for (let attempt = 0; ; attempt++) {
        try {
          changed = await watchBlockers(run, () =>
            conn.transaction(
              async (tx) => {
                if (!tx.run) throw new Error(`this ${dialect.display} connection cannot count changed rows`)
                const { rows: n } = await tx.run(text)
                if (n > 0) await record(tx, batches + 1, rows + n)
                return n
              },
              { lockTimeout: settings.ddlLockTimeout, statements: [text] },
            ),
          )
          break
        } catch (err) {
          const e = err instanceof StatementFailure ? err.cause : err
          const kind = dialect.classify(e)
          if (kind === 'connection-lost' || conn.lost()) throw dirty(new Error(`the connection to ${dialect.display} closed (${messageOf(e)})`), 'CONNECTION_LOST')
          if (run.signal.aborted) throw dirty(e, 'ABORTED')
          if (kind === 'lock-conflict') {
            if (attempt < settings.ddlRetries) {
              await backoff(run, [rev], attempt, e, undefined, `ctx.batch, batch ${batches + 1}`)
              continue
            }
            throw mark(ddlTimeout(run, [rev], attempt, e, '', { kind: 'in-batch', batches, rows }))
          }
          throw dirty(e, 'MIGRATION_FAILED')
        }
      }
      if (changed === 0) break
      batches++
      rows += changed
      const seconds = Math.max((performance.now() - t0) / 1000, 0.001)
      run.batched(rev, { batches, rows, rowsPerSecond: Math.round(rows / seconds) })
      if (pauseMs > 0) await sleep(pauseMs, run.signal)
    }
    run.log.info(`${label(rev)}: ctx.batch done: ${batches} batch(es), ${rows} rows in ${Math.round(performance.now() - t0)} ms`, { revision: rev.id, batches, rows })
    return { batches, rows }
  }
}
