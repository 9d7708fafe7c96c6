import type { Dialect } from '../dialects/dialect.js'
import { MigrationError, messageOf } from '../errors.js'
import type { Log } from '../log.js'
import type { Settings } from '../options.js'
import type { MigrationStatus, MigratorEvents } from '../types.js'
import { jitter, sleep } from '../wait.js'
import type { Connection } from './connection.js'

export interface LockWait {
  dialect: Dialect
  settings: Settings
  signal: AbortSignal
  log: Log
  emit<E extends keyof MigratorEvents>(event: E, payload: MigratorEvents[E]): void
  status(s: MigrationStatus): void
  /** Retries while the database does not accept connections. */
  reachable<T>(fn: () => Promise<T>): Promise<T>
}

/**
 * Opens the migration connection and polls the lock with backoff, bounded by lockTimeout: a waiter never
 * sits inside a blocking query, whose snapshot would stall CREATE INDEX CONCURRENTLY. A connection that
 * drops while waiting (a server restart) holds nothing yet, so a new one takes its place.
 */
export async function acquireLock(w: LockWait): Promise<Connection> {
  const { dialect, settings, signal, log } = w
  const since = Date.now()
  let lastReport = 0
  if (dialect.sessionDoubt) log.warn(dialect.sessionDoubt)
  let conn = await w.reachable(() => dialect.connect())
  // Capped at 500 ms so a waiting replica is ready well within a second of the leader finishing.
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      if (await conn.tryLock()) break
      const waited = Date.now() - since
      if (waited >= settings.lockTimeout) {
        const holder = await conn.lockHolder().catch(() => undefined)
        throw new MigrationError(
          'LOCK_TIMEOUT',
          `Waited ${Math.round(waited / 1000)}s for the migration lock, held by ${holder ?? 'another session'}. ` +
            'Another process is migrating: raise lockTimeout if its revisions take longer, or find out why it is stuck.',
        )
      }
      if (signal.aborted) throw new MigrationError('ABORTED', 'Stopped while waiting for the migration lock.', { cause: signal.reason })
      w.status('waiting-for-lock')
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now()
        const holder = await conn.lockHolder().catch(() => undefined)
        log.info(`waiting for the migration lock held by ${holder ?? 'another session'} (${Math.round(waited / 1000)}s so far)`, { holder, waitedMs: waited })
        w.emit('lock:wait', { holder, waitedMs: waited })
      }
      await sleep(Math.min(jitter(delay), Math.max(0, settings.lockTimeout - waited)), signal)
    } catch (e) {
      const kind = dialect.classify(e)
      if (e instanceof MigrationError || (kind !== 'connection-lost' && kind !== 'transient') || signal.aborted) {
        await conn.destroy().catch(() => undefined)
        // Stopped while a poll was on its way (its connection perhaps closed too): nothing was held, nothing ran.
        if (signal.aborted && !(e instanceof MigrationError)) throw new MigrationError('ABORTED', 'Stopped while waiting for the migration lock.', { cause: e })
        throw e
      }
      log.warn(`the connection to ${dialect.display} dropped while waiting for the migration lock (${(e as Error).message}); reconnecting`)
      await conn.destroy().catch(() => undefined)
      conn = await w.reachable(() => dialect.connect())
    }
  }
  w.emit('lock:acquired', { waitedMs: Date.now() - since })
  return conn
}

/**
 * Where the lock lasts one transaction (a transaction pooler), the run is committed here, after its last revision:
 * a commit that fails is the run's failure, not a warning at release.
 */
export async function commitRun(conn: Connection, dialect: Dialect): Promise<void> {
  if (!conn.finish) return
  try {
    await conn.finish()
  } catch (e) {
    throw new MigrationError(
      dialect.classify(e) === 'connection-lost' || conn.lost() ? 'CONNECTION_LOST' : 'MIGRATION_FAILED',
      `Committing the migration transaction on ${dialect.display} failed (${messageOf(e)}). Through a transaction pooler every revision of the run ` +
        'and its history row are in that one transaction: they are all recorded or none is, and the history says which. Run again to apply what is missing.',
      { cause: e },
    )
  }
}
