import type { Connection } from './core/connection.js'
import { applyGroup, type ApplyRun, type Direction } from './core/apply.js'
import { acquireLock, commitRun } from './core/lock.js'
import { validate } from './core/validate.js'
import type { Dialect } from './dialects/dialect.js'
import { openDialect, type Dialects } from './dialects/open.js'
import { MigrationError, messageOf } from './errors.js'
import { dirtyAccount } from './failure.js'
import { inTransactionWithRecord, runsOutside } from './core/apply.js'
import { readProgress, settleStarted } from './core/history.js'
import type { HealthState } from './health.js'
import type { Log } from './log.js'
import { clientOfDb, schemaOfDb, settingsOf, type Settings } from './options.js'
import type { HistoryRow } from './plan.js'
import { loadRevisions } from './revisions/load.js'
import { label, stepOf, type Revision } from './revisions/revision.js'
import type { MigrateOptions, MigratorEvents, MigrationStatus } from './types.js'
import { jitter, sleep } from './wait.js'

export type Emit = <E extends keyof MigratorEvents>(event: E, payload: MigratorEvents[E]) => void

/** Everything an operation (up, down, stamp …) needs: the database, the lock and the reporting around them. */
export interface Runner {
  options: MigrateOptions
  log: Log
  state: HealthState
  emit: Emit
  signal: AbortSignal
  status(s: MigrationStatus): void
  /** Throws ABORTED when the signal fired. */
  aborted(during: string): void
  withDatabase<T>(work: (dialect: Dialect, revisions: Revision[], settings: Settings) => Promise<T>): Promise<T>
  /** Runs `work` on a connection that holds the migration lock; stop() cancels, then closes it after shutdownTimeout. */
  withLock<T>(
    dialect: Dialect,
    settings: Settings,
    work: (conn: Connection, apply: (group: Revision[], direction: Direction, resumeFrom?: number) => Promise<number[]>) => Promise<T>,
  ): Promise<T>
  /** Retries `fn` while the database is not accepting connections, up to connectTimeout. */
  reachable<T>(dialect: Dialect, settings: Settings, fn: () => Promise<T>): Promise<T>
  /** The DIRTY error for rows left running, read on the locked connection (the progress table only here). */
  dirty(running: HistoryRow[], revisions: Revision[], conn: Connection, dialect: Dialect): Promise<MigrationError>
}

/** Revision lists whose notices were logged: once per process, not on every boot. */
const noticed = new WeakSet<Revision[]>()

const NO_ANSWER = Symbol('no answer')

/** `p`, or a rejection with NO_ANSWER after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(NO_ANSWER), ms)))
  p.catch(() => undefined)
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

export function createRunner(options: MigrateOptions, log: Log, state: HealthState, emit: Emit, signal: AbortSignal, dialects: Dialects): Runner {
  const status = (s: MigrationStatus) => void (state.status = s)
  const aborted = (during: string) => {
    if (signal.aborted) throw new MigrationError('ABORTED', `Stopped ${during}.`, { cause: signal.reason })
  }

  async function reachable<T>(dialect: Dialect, settings: Settings, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + settings.connectTimeout
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        // Bounded too: a server that answers but never completes the handshake (an HTTP port, a proxy with no
        // backend) makes postgres.js reconnect forever without rejecting.
        return await within(fn(), Math.max(deadline - Date.now(), 5_000))
      } catch (e) {
        if (e instanceof MigrationError) throw e
        if (e === NO_ANSWER)
          throw new MigrationError(
            'DATABASE_UNREACHABLE',
            `Cannot reach ${dialect.display}: no answer within connectTimeout (${settings.connectTimeout} ms; --connect-timeout in the CLI). ` +
              'Something accepts connections there but does not complete the database handshake: check the host, the port and that it is the database server.',
          )
        const kind = dialect.classify(e)
        // Another connection in the middle of a write (SQLite's SQLITE_BUSY on an app's client that does not wait
        // for locks, as libSQL's does not): it ends, so it is waited for like a server that is starting.
        const busy = kind === 'lock-conflict'
        const retry = busy || kind === 'transient' || kind === 'connection-lost'
        if (!retry || Date.now() + delay > deadline || signal.aborted) {
          const t = settings.connectTimeout
          const why = retry ? ` after trying for ${t < 10_000 ? `${t / 1000}s` : `${Math.round(t / 1000)}s`} (connectTimeout, --connect-timeout in the CLI)` : ''
          const hint = busy ? 'Another connection held the database locked all that time: find the long write.' : 'Check that the server is running and that the URL names it.'
          throw new MigrationError('DATABASE_UNREACHABLE', `Cannot reach ${dialect.display}${why}: ${messageOf(e)}. ${hint}`, { cause: e })
        }
        if (state.status !== 'waiting-for-database') log.warn(`${dialect.display} is ${busy ? 'locked by another connection' : 'not reachable yet'} (${messageOf(e)}); retrying`)
        status('waiting-for-database')
        await sleep(jitter(delay), signal)
      }
    }
  }

  return {
    options,
    log,
    state,
    emit,
    signal,
    status,
    aborted,
    reachable,
    async withDatabase(work) {
      const settings = settingsOf(options)
      const dialect = await openDialect(options.db === undefined ? options : { ...options, client: clientOfDb(options.db) }, {
        table: settings.table,
        schema: settings.schema,
        instanceId: settings.instanceId,
        ddlLockTimeout: settings.ddlLockTimeout,
        connectTimeout: settings.connectTimeout,
        lockStale: settings.lockStale,
        ...(settings.pooler ? { pooler: settings.pooler } : {}),
        debug: (m) => log.debug(m),
        ...(options.db === undefined ? {} : { drizzleDb: { fullSchema: schemaOfDb(options.db) } }),
      }, dialects)
      try {
        const revisions = await loadRevisions(
          options.migrations ? { migrations: options.migrations } : { dir: options.dir ?? './migrations', ...(settings.format ? { format: settings.format } : {}) },
          dialect.syntax,
        )
        if (!noticed.has(revisions)) {
          noticed.add(revisions)
          for (const rev of revisions) if (rev.notice) log.info(rev.notice, { revision: rev.id })
        }
        // Not validated here: each operation validates the revisions it is about to run (validate.ts says why).
        return await work(dialect, revisions, settings)
      } finally {
        await dialect.close().catch((e) => log.warn(`closing the connection failed: ${messageOf(e)}`))
      }
    },
    async withLock(dialect, settings, work) {
      const conn = await acquireLock({ dialect, settings, signal, log, emit, status, reachable: (fn) => reachable(dialect, settings, fn) })
      // stop(): the statement in flight is cancelled at once (a transaction then rolls back); a revision that
      // still has not settled after shutdownTimeout is abandoned and its connection closed, which frees the lock.
      let abandon!: (e: Error) => void
      const abandoned = new Promise<never>((_, reject) => (abandon = reject))
      abandoned.catch(() => undefined)
      let timer: NodeJS.Timeout | undefined
      const onAbort = () => {
        conn.cancel()
        timer = setTimeout(() => {
          log.warn(`a revision ignored stop() for ${settings.shutdownTimeout} ms: closing its connection, so the server rolls back what is open and frees the lock`)
          abandon(new MigrationError('ABORTED', `Stopped: the revision did not finish within shutdownTimeout (${settings.shutdownTimeout} ms), so its connection was closed.`))
          void conn.destroy().catch(() => undefined)
        }, settings.shutdownTimeout)
        timer.unref?.()
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const run: ApplyRun = {
        dialect,
        conn,
        settings,
        signal,
        log,
        abandoned,
        started(rev, direction) {
          state.direction = direction
          state.applying = { id: rev.id, name: rev.name, since: Date.now(), batch: null }
          log.info(`${direction === 'down' ? 'reverting' : 'applying'} ${label(rev)}${rev.transaction ? '' : ' (outside a transaction)'}`, { revision: rev.id })
          emit('migration:start', { id: rev.id, name: rev.name, direction, transaction: !runsOutside(dialect, rev, direction) })
        },
        batched(rev, progress) {
          if (state.applying?.id === rev.id) state.applying.batch = progress
          log.debug(`${label(rev)}: ctx.batch: ${progress.batches} batch(es), ${progress.rows} rows, ${progress.rowsPerSecond} rows/s`, { revision: rev.id, ...progress })
          emit('batch:progress', { id: rev.id, name: rev.name, ...progress })
        },
      }
      const apply = async (group: Revision[], direction: Direction, resumeFrom?: number) => {
        // The operations validate all they will run before the first apply; this is the last check (a no-op then).
        validate(group, dialect)
        try {
          return await applyGroup(run, group, direction, resumeFrom)
        } catch (e) {
          const at = state.applying
          const rev = at && group.find((x) => x.id === at.id)
          if (at && rev)
            emit('migration:failed', {
              id: at.id,
              name: at.name,
              direction,
              transaction: !runsOutside(dialect, rev, direction),
              durationMs: Date.now() - at.since,
              code: e instanceof MigrationError ? e.code : 'MIGRATION_FAILED',
            })
          throw e
        } finally {
          state.applying = null
        }
      }
      try {
        const result = await work(conn, apply)
        await commitRun(conn, dialect)
        return result
      } catch (e) {
        // Lost between revisions (reading the history under the lock, creating it): nothing was running.
        if (!(e instanceof MigrationError) && (dialect.classify(e) === 'connection-lost' || conn.lost()))
          throw new MigrationError(
            'CONNECTION_LOST',
            `The migration connection to ${dialect.display} closed while it held the lock, outside any revision (${messageOf(e)}): ` +
              'no revision was running, and what it had written is rolled back. Run again.',
            { cause: e },
          )
        // Stopped between revisions: stop() interrupted what was in flight (reading the history, creating it).
        if (!(e instanceof MigrationError) && signal.aborted)
          throw new MigrationError('ABORTED', `Stopped while holding the migration lock, outside any revision (${messageOf(e)}): no revision was running. Run again.`, { cause: e })
        throw e
      } finally {
        signal.removeEventListener('abort', onAbort)
        clearTimeout(timer)
        await conn.close().catch((e) => log.warn(`releasing the migration connection failed: ${messageOf(e)}`))
      }
    },
    async dirty(running, revisions, conn, dialect) {
      const leftovers = await conn.leftovers().catch(() => [])
      const first = running[0]!.id
      const rev = revisions.find((x) => x.id === first)
      const progress = await readProgress(conn, dialect, first).catch(() => null)
      const step = rev && progress ? stepOf(rev, progress.direction) : undefined
      const settled = progress && step?.kind === 'sql' ? await settleStarted(conn, dialect, progress, step.statements).catch(() => undefined) : undefined
      // Where the server's DDL is atomic, such a statement is recorded as starting before it runs.

      const others = running.slice(1).map((r) => {
        const x = revisions.find((y) => y.id === r.id)
        return x ? `${label(x)} (${x.source})` : r.id
      })
      return new MigrationError(
        'DIRTY',
        `${dirtyAccount(first, rev, progress, (t) => (inTransactionWithRecord(dialect, t) ? 'atomic' : dialect.recordsFirst?.(t) ? 'recorded-first' : 'unrecordable'), settled)}` +
          (others.length ? ` Also marked running: ${others.join(', ')}.` : '') +
          (leftovers.length ? ` Found: ${leftovers.join(' ')}` : ''),
        { revision: first, ...(rev ? { file: rev.source } : {}) },
      )
    },
  }
}
