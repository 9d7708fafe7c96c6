import type { ApplyHooks, Dialect, Direction, Session } from './dialects/dialect.js'
import { openDialect } from './dialects/open.js'
import { MigrationError, messageOf } from './errors.js'
import type { HealthState } from './health.js'
import type { Log } from './log.js'
import { clientOfDb, schemaOfDb, settingsOf, type Settings } from './options.js'
import type { HistoryRow } from './plan.js'
import { loadRevisions } from './revisions/load.js'
import { label, type Revision } from './revisions/revision.js'
import type { MigrateOptions, MigratorEvents, MigrationStatus } from './types.js'
import { jitter, sleep } from './wait.js'

const TX_CONTROL = /^(begin|start\s+transaction|commit|end|rollback|abort)\b\s*(transaction|work)?\s*$/i

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
  withLock<T>(dialect: Dialect, settings: Settings, work: (session: Session) => Promise<T>): Promise<T>
  reachable<T>(dialect: Dialect, settings: Settings, fn: () => Promise<T>): Promise<T>
  /** Runs one group of revisions in a direction, retrying lock_timeout conflicts; returns durations. */
  apply(session: Session, settings: Settings, group: Revision[], direction: Direction): Promise<number[]>
  dirty(running: HistoryRow[], revisions: Revision[], session: Session): Promise<MigrationError>
}

export function createRunner(options: MigrateOptions, log: Log, state: HealthState, emit: Emit, signal: AbortSignal): Runner {
  const status = (s: MigrationStatus) => void (state.status = s)
  const aborted = (during: string) => {
    if (signal.aborted) throw new MigrationError('ABORTED', `Stopped ${during}.`, { cause: signal.reason })
  }

  const hooks: ApplyHooks = {
    started(rev) {
      state.applying = { id: rev.id, name: rev.name, since: Date.now() }
      log.info(`${state.direction === 'down' ? 'reverting' : 'applying'} ${label(rev)}${rev.transaction ? '' : ' (outside a transaction)'}`, { revision: rev.id })
      emit('migration:start', { id: rev.id, name: rev.name })
    },
    log: (rev) => (m, f) => log.info(`${label(rev)}: ${m}`, f),
    signal,
  }

  async function reachable<T>(dialect: Dialect, settings: Settings, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + settings.connectTimeout
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await fn()
      } catch (e) {
        if (e instanceof MigrationError) throw e
        const transient = dialect.isTransient(e)
        if (!transient || Date.now() + delay > deadline || signal.aborted) {
          const why = transient ? ` after trying for ${Math.round(settings.connectTimeout / 1000)}s` : ''
          throw new MigrationError('DATABASE_UNREACHABLE', `Cannot reach ${dialect.display}${why}: ${messageOf(e)}`, { cause: e })
        }
        if (state.status !== 'waiting-for-database') log.warn(`${dialect.display} is not reachable yet (${messageOf(e)}); retrying`)
        status('waiting-for-database')
        await sleep(jitter(delay), signal)
      }
    }
  }

  /** Polls the lock with backoff: a waiter never sits inside a blocking query, whose snapshot would stall CREATE INDEX CONCURRENTLY. */
  async function acquire(session: Session, settings: Settings) {
    const since = Date.now()
    let lastReport = 0
    // Capped at 500 ms so a waiting replica is ready well within a second of the leader finishing.
    for (let delay = 50; !(await session.tryLock()); delay = Math.min(delay * 2, 500)) {
      const waited = Date.now() - since
      if (waited >= settings.lockTimeout) {
        const holder = await session.lockHolder().catch(() => undefined)
        throw new MigrationError(
          'LOCK_TIMEOUT',
          `Waited ${Math.round(waited / 1000)}s for the migration lock, held by ${holder ?? 'another session'}. ` +
            'Another process is migrating: raise lockTimeout if its revisions take longer, or find out why it is stuck.',
        )
      }
      aborted('while waiting for the migration lock')
      status('waiting-for-lock')
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now()
        const holder = await session.lockHolder().catch(() => undefined)
        log.info(`waiting for the migration lock held by ${holder ?? 'another session'} (${Math.round(waited / 1000)}s so far)`, { holder, waitedMs: waited })
        emit('lock:wait', { holder, waitedMs: waited })
      }
      await sleep(Math.min(jitter(delay), Math.max(0, settings.lockTimeout - waited)), signal)
    }
    emit('lock:acquired', { waitedMs: Date.now() - since })
  }

  /** Retries a group that hit lock_timeout, naming the sessions that held the lock it waited for. */
  async function withDdlRetry<T>(session: Session, settings: Settings, group: Revision[], run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let blockers: string[] = []
      // Ask who blocks us while we still wait: once our statement gives up, the server no longer knows.
      const watch = setTimeout(
        () => void session.blockers().then((b) => void (blockers = b), () => undefined),
        Math.max(10, settings.ddlLockTimeout * 0.6),
      )
      try {
        return await run()
      } catch (e) {
        if (!session.isLockConflict(e)) throw e
        const who = blockers.length ? blockers.join('; ') : 'another session'
        if (attempt >= settings.ddlRetries || signal.aborted)
          throw new MigrationError(
            'DDL_LOCK_TIMEOUT',
            `Revision ${group.map(label).join(', ')} could not get its table locks within ddlLockTimeout (${settings.ddlLockTimeout} ms) in ${attempt + 1} attempts; ` +
              `blocked by ${who}. Nothing of it is applied. End the blocking transaction or retry when the database is quieter.`,
            { revision: group[0]!.id, file: group[0]!.source, cause: e },
          )
        const wait = jitter(Math.min(500 * 2 ** attempt, 10_000))
        log.warn(
          `${group.map(label).join(', ')} waited over ${settings.ddlLockTimeout} ms for a lock held by ${who}; retry ${attempt + 1}/${settings.ddlRetries} in ${wait} ms`,
          { blockers },
        )
        await sleep(wait, signal)
      } finally {
        clearTimeout(watch)
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
        lockStale: settings.lockStale,
        debug: (m) => log.debug(m),
        drizzle: { ...settings.drizzle, ...(options.db === undefined ? {} : { db: { fullSchema: schemaOfDb(options.db) } }) },
      })
      try {
        const revisions = await loadRevisions(options.migrations ? { migrations: options.migrations } : { dir: options.dir ?? './migrations' }, dialect.syntax)
        const seen = validated.get(revisions) ?? new Set<string>()
        if (!seen.has(dialect.name)) {
          validate(revisions, dialect)
          validated.set(revisions, seen.add(dialect.name))
        }
        return await work(dialect, revisions, settings)
      } finally {
        await dialect.close().catch((e) => log.warn(`closing the connection failed: ${messageOf(e)}`))
      }
    },
    async withLock(dialect, settings, work) {
      const session = await reachable(dialect, settings, () => dialect.openSession())
      const cancel = () => session.cancel?.()
      signal.addEventListener('abort', cancel, { once: true })
      try {
        await acquire(session, settings)
        return await work(session)
      } finally {
        signal.removeEventListener('abort', cancel)
        await session.release().catch((e) => log.warn(`releasing the migration connection failed: ${messageOf(e)}`))
      }
    },
    async apply(session, settings, group, direction) {
      state.direction = direction
      try {
        return await withDdlRetry(session, settings, group, () =>
          group.length === 1 && !group[0]!.transaction
            ? session.applyOutsideTransaction(group[0]!, hooks, direction).then((d) => [d])
            : session.applyInTransaction(group, hooks, direction),
        )
      } catch (e) {
        if (!(signal.aborted && e instanceof MigrationError && e.code === 'MIGRATION_FAILED')) throw e
        const rev = group.find((r) => r.id === e.revision) ?? group[0]!
        throw new MigrationError(
          'ABORTED',
          `Stopped while ${direction === 'up' ? 'applying' : 'reverting'} ${label(rev)}. ` +
            (rev.transaction
              ? 'It was rolled back: nothing of it changed.'
              : `It ran outside a transaction and is left dirty: inspect the database, then run \`boot-migrate resolve ${rev.id} --applied\` or \`--rolled-back\`.`),
          { revision: rev.id, file: rev.source, cause: e },
        )
      } finally {
        state.applying = null
      }
    },
    async dirty(running, revisions, session) {
      const leftovers = await session.leftovers().catch(() => [])
      const names = running.map((r) => {
        const rev = revisions.find((x) => x.id === r.id)
        return rev ? `${label(rev)} (${rev.source})` : r.id
      })
      const first = running[0]!.id
      return new MigrationError(
        'DIRTY',
        `Revision ${names.join(', ')} was interrupted while running outside a transaction: its history row is still "running" and some of its statements may have run, so it is not run again. ` +
          `Inspect the database, then run \`boot-migrate resolve ${first} --applied\` if its effects are all there, or \`boot-migrate resolve ${first} --rolled-back\` once none are.` +
          (leftovers.length ? ` Found: ${leftovers.join(' ')}` : ''),
        { revision: first },
      )
    },
  }
}

/** Revision lists (kept per process by loadRevisions) already checked against a dialect's rules. */
const validated = new WeakMap<Revision[], Set<string>>()

/** Rejects what would break inside a transaction before anything runs. */
function validate(revisions: Revision[], dialect: Dialect) {
  for (const rev of revisions) {
    if (!rev.transaction) continue
    for (const step of [rev.up, rev.down]) {
      if (step?.kind !== 'sql') continue
      for (const st of step.statements) {
        const hint = rev.source.endsWith('.sql') ? 'add "-- migrate:no-transaction" to the file' : 'set transaction: false on the revision'
        const reason = dialect.nonTransactional(st.text)
        const at = { revision: rev.id, file: rev.source, line: st.line }
        if (reason)
          throw new MigrationError(
            'INVALID_REVISION',
            `${rev.source}:${st.line}: ${reason} cannot run inside a transaction; ${hint} (its statements then run one by one, outside a transaction).`,
            at,
          )
        if (TX_CONTROL.test(st.text))
          throw new MigrationError(
            'INVALID_REVISION',
            `${rev.source}:${st.line}: "${st.text}" controls the transaction that boot-migrate wraps around the revision; remove it (or ${hint} to manage transactions yourself).`,
            at,
          )
      }
    }
  }
}
