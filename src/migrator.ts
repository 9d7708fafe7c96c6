import { performance } from 'node:perf_hooks'
import type { Dialect, Session } from './dialects/dialect.js'
import { openDialect } from './dialects/open.js'
import { MigrationError, messageOf, scrubber } from './errors.js'
import { initialHealth, snapshot, type HealthState } from './health.js'
import { createLog } from './log.js'
import { settingsOf, secretsOf, type Settings } from './options.js'
import { plan, type HistoryRow, type Plan } from './plan.js'
import { compareIds } from './revisions/ids.js'
import { loadRevisions } from './revisions/load.js'
import { label, type Revision } from './revisions/revision.js'
import type { AppliedRevision, HealthSnapshot, MigrateOptions, MigrateResult, MigrationContext, MigratorEvents, MigrationStatus } from './types.js'

export interface Migrator {
  /** Brings the database to the target. Calls while a run is in flight share it. */
  run(): Promise<MigrateResult>
  /** Runs in the background; the outcome lands in `health()`, `ready` and the events, never as an unhandled rejection. */
  start(): void
  /** Settles with the outcome of the first run. */
  readonly ready: Promise<MigrateResult>
  health(): HealthSnapshot
  on<E extends keyof MigratorEvents>(event: E, listener: (payload: MigratorEvents[E]) => void): () => void
}

const TX_CONTROL = /^(begin|start\s+transaction|commit|end|rollback|abort)\b\s*(transaction|work)?\s*$/i

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })

const jitter = (ms: number) => Math.round(ms * (0.8 + Math.random() * 0.4))

export function createMigrator(options: MigrateOptions): Migrator {
  const scrub = scrubber(secretsOf(options ?? {}))
  const log = createLog(options?.logger, scrub)
  const state: HealthState = initialHealth()
  const listeners = new Map<keyof MigratorEvents, Set<(p: never) => void>>()
  let inflight: Promise<MigrateResult> | undefined
  let settle: { resolve(r: MigrateResult): void; reject(e: unknown): void }
  const ready = new Promise<MigrateResult>((resolve, reject) => (settle = { resolve, reject }))
  ready.catch(() => undefined)

  const emit = <E extends keyof MigratorEvents>(event: E, payload: MigratorEvents[E]) => {
    for (const l of listeners.get(event) ?? []) {
      try {
        ;(l as (p: MigratorEvents[E]) => void)(payload)
      } catch (e) {
        log.error(`a "${event}" listener threw: ${messageOf(e)}`)
      }
    }
  }
  const status = (s: MigrationStatus) => void (state.status = s)

  async function execute(): Promise<MigrateResult> {
    const started = performance.now()
    Object.assign(state, initialHealth(), { status: 'starting' })
    const settings = settingsOf(options)
    const signal = options.signal
    const checkAbort = () => {
      if (signal?.aborted) throw new MigrationError('ABORTED', 'Migration was aborted before it finished.', { cause: signal.reason })
    }
    const dialect = await openDialect(options, {
      table: settings.table,
      schema: settings.schema,
      instanceId: settings.instanceId,
      ddlLockTimeout: settings.ddlLockTimeout,
      debug: (m) => log.debug(m),
    })
    try {
      const revisions = await loadRevisions(
        options.migrations ? { migrations: options.migrations } : { dir: options.dir ?? './migrations' },
        dialect.syntax,
      )
      validate(revisions, dialect)
      const history = await reachable(dialect, settings, () => dialect.readHistory())
      let p = plan(revisions, history, settings)
      track(p)
      if (!p.pending.length && !p.running.length) return finish(p, [], true)

      checkAbort()
      const session = await reachable(dialect, settings, () => dialect.openSession())
      try {
        await acquire(session, settings, signal)
        let rows: HistoryRow[] | null = await session.readHistory()
        if (!rows) {
          await session.createHistory()
          rows = []
        }
        p = plan(revisions, rows, settings)
        track(p)
        if (p.running.length) throw await dirty(p.running, revisions, session)
        if (!p.pending.length) {
          log.info(`${dialect.display} is already at ${p.current ?? 'an empty history'}: another process applied the revisions`)
          return finish(p, [], true)
        }
        log.info(`applying ${p.pending.length} revision(s) to ${dialect.display}: ${p.pending.map(label).join(', ')}`)
        status('migrating')
        const applied: AppliedRevision[] = []
        for (const group of groups(p.pending, settings)) {
          checkAbort()
          const durations = await withDdlRetry(session, settings, group, signal, () =>
            group.length === 1 && !group[0]!.transaction
              ? session.applyOutsideTransaction(group[0]!, hooks).then((d) => [d])
              : session.applyInTransaction(group, hooks),
          )
          group.forEach((rev, i) => {
            const done = { id: rev.id, name: rev.name, durationMs: durations[i] ?? 0 }
            applied.push(done)
            state.current = rev.id
            state.pending = state.pending.filter((id) => id !== rev.id)
            log.info(`applied ${label(rev)} in ${done.durationMs} ms`, { revision: rev.id, durationMs: done.durationMs })
            emit('migration:end', done)
          })
          state.applying = null
        }
        return finish(p, applied, false)
      } finally {
        await session.release().catch((e) => log.warn(`releasing the migration connection failed: ${messageOf(e)}`))
      }
    } finally {
      await dialect.close().catch((e) => log.warn(`closing the connection failed: ${messageOf(e)}`))
    }

    function track(p: Plan) {
      state.current = p.current
      state.target = p.target
      state.pending = p.pending.map((r) => r.id)
    }

    function finish(p: Plan, applied: AppliedRevision[], upToDate: boolean): MigrateResult {
      const current = applied.reduce<string | null>((c, a) => (c === null || compareIds(a.id, c) > 0 ? a.id : c), p.current)
      if (p.unknown.length)
        log.warn(`the database has revisions this code does not ship: ${p.unknown.join(', ')} (a newer deploy ran; allowed)`, { unknown: p.unknown })
      return { applied, current, target: p.target, unknown: p.unknown, upToDate, durationMs: Math.round(performance.now() - started) }
    }
  }

  const hooks = {
    started(rev: Revision) {
      state.applying = { id: rev.id, name: rev.name, since: Date.now() }
      log.info(`applying ${label(rev)}${rev.transaction ? '' : ' (outside a transaction)'}`, { revision: rev.id })
      emit('migration:start', { id: rev.id, name: rev.name })
    },
    log: (rev: Revision): MigrationContext['log'] => (m, f) => log.info(`${label(rev)}: ${m}`, f),
    signal: options.signal,
  }

  /** Connects, retrying with backoff while the database is not accepting connections. */
  async function reachable<T>(dialect: Dialect, settings: Settings, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + settings.connectTimeout
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await fn()
      } catch (e) {
        if (e instanceof MigrationError) throw e
        const transient = dialect.isTransient(e)
        if (!transient || Date.now() + delay > deadline || options.signal?.aborted) {
          const why = transient ? ` after trying for ${Math.round(settings.connectTimeout / 1000)}s` : ''
          throw new MigrationError('DATABASE_UNREACHABLE', `Cannot reach ${dialect.display}${why}: ${messageOf(e)}`, { cause: e })
        }
        if (state.status !== 'waiting-for-database') log.warn(`${dialect.display} is not reachable yet (${messageOf(e)}); retrying`)
        status('waiting-for-database')
        await sleep(jitter(delay), options.signal)
      }
    }
  }

  /** Polls the lock with backoff: a waiter never sits inside a blocking query, whose snapshot would stall CREATE INDEX CONCURRENTLY. */
  async function acquire(session: Session, settings: Settings, signal?: AbortSignal) {
    const since = Date.now()
    let lastReport = 0
    for (let delay = 50; !(await session.tryLock()); delay = Math.min(delay * 2, 1000)) {
      const waited = Date.now() - since
      if (waited >= settings.lockTimeout) {
        const holder = await session.lockHolder().catch(() => undefined)
        throw new MigrationError(
          'LOCK_TIMEOUT',
          `Waited ${Math.round(waited / 1000)}s for the migration lock, held by ${holder ?? 'another session'}. ` +
            'Another process is migrating: raise lockTimeout if its revisions take longer, or find out why it is stuck.',
        )
      }
      if (signal?.aborted) throw new MigrationError('ABORTED', 'Migration was aborted while waiting for the lock.', { cause: signal.reason })
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

  /** Retries a revision that hit lock_timeout, naming the sessions that held the lock it waited for. */
  async function withDdlRetry<T>(session: Session, settings: Settings, group: Revision[], signal: AbortSignal | undefined, apply: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let blockers: string[] = []
      // Ask who blocks us while we still wait: once our statement gives up, the server no longer knows.
      const watch = setTimeout(() => void session.blockers().then((b) => void (blockers = b), () => undefined), Math.max(10, settings.ddlLockTimeout * 0.6))
      try {
        return await apply()
      } catch (e) {
        if (!session.isLockConflict(e)) throw e
        const who = blockers.length ? blockers.join('; ') : 'another session'
        if (attempt >= settings.ddlRetries || signal?.aborted)
          throw new MigrationError(
            'DDL_LOCK_TIMEOUT',
            `Revision ${group.map(label).join(', ')} could not get its table locks within ddlLockTimeout (${settings.ddlLockTimeout} ms) in ${attempt + 1} attempts; ` +
              `blocked by ${who}. Nothing of it is applied. End the blocking transaction or retry when the database is quieter.`,
            { revision: group[0]!.id, file: group[0]!.source, cause: e },
          )
        const wait = jitter(Math.min(500 * 2 ** attempt, 10_000))
        log.warn(`${group.map(label).join(', ')} waited over ${settings.ddlLockTimeout} ms for a lock held by ${who}; retry ${attempt + 1}/${settings.ddlRetries} in ${wait} ms`, {
          blockers,
        })
        await sleep(wait, signal)
      } finally {
        clearTimeout(watch)
      }
    }
  }

  async function dirty(running: HistoryRow[], revisions: Revision[], session: Session) {
    const leftovers = await session.leftovers().catch(() => [])
    const names = running.map((r) => {
      const rev = revisions.find((x) => x.id === r.id)
      return rev ? `${label(rev)} (${rev.source})` : r.id
    })
    const first = running[0]!.id
    return new MigrationError(
      'DIRTY',
      `Revision ${names.join(', ')} was interrupted while running outside a transaction: its history row is still "running" and some of its statements may be applied, so it is not run again. ` +
        `Inspect the database, then run \`boot-migrate resolve ${first} --applied\` if it completed, or \`boot-migrate resolve ${first} --rolled-back\` once you have undone what it did.` +
        (leftovers.length ? ` Found: ${leftovers.join(' ')}` : ''),
      { revision: first },
    )
  }

  function run(): Promise<MigrateResult> {
    if (inflight) return inflight
    const p = execute().then(
      (result) => {
        status('ready')
        state.applying = null
        state.error = null
        log.info(result.applied.length ? `ready at ${result.current} after ${result.durationMs} ms` : `up to date at ${result.current ?? 'an empty history'}`, {
          current: result.current,
          durationMs: result.durationMs,
        })
        settle.resolve(result)
        emit('ready', result)
        return result
      },
      (e: unknown) => {
        const error = e instanceof MigrationError ? e : new MigrationError('MIGRATION_FAILED', messageOf(e), { cause: e })
        error.message = scrub(error.message)
        status('failed')
        state.error = error
        log.error(error.message, { code: error.code, revision: error.revision })
        settle.reject(error)
        emit('failed', error)
        throw error
      },
    )
    inflight = p.finally(() => (inflight = undefined))
    return inflight
  }

  return {
    run,
    start() {
      run().catch(() => undefined)
    },
    ready,
    health: () => snapshot(state),
    on(event, listener) {
      const set = listeners.get(event) ?? new Set()
      listeners.set(event, set)
      set.add(listener as (p: never) => void)
      return () => void set.delete(listener as (p: never) => void)
    },
  }
}

/** Rejects what would break inside a transaction before anything runs. */
function validate(revisions: Revision[], dialect: Dialect) {
  for (const rev of revisions) {
    if (!rev.transaction) continue
    for (const step of [rev.up, rev.down]) {
      if (step?.kind !== 'sql') continue
      for (const st of step.statements) {
        const hint = rev.source.endsWith('.sql') ? 'add "-- migrate:no-transaction" to the file' : 'set transaction: false on the revision'
        const reason = dialect.nonTransactional(st.text)
        if (reason)
          throw new MigrationError(
            'INVALID_REVISION',
            `${rev.source}:${st.line}: ${reason} cannot run inside a transaction; ${hint} (its statements then run one by one, outside a transaction).`,
            { revision: rev.id, file: rev.source, line: st.line },
          )
        if (TX_CONTROL.test(st.text))
          throw new MigrationError(
            'INVALID_REVISION',
            `${rev.source}:${st.line}: "${st.text}" controls the transaction that boot-migrate wraps around the revision; remove it (or ${hint} to manage transactions yourself).`,
            { revision: rev.id, file: rev.source, line: st.line },
          )
      }
    }
  }
}

/** `each`: one group per revision; `all`: one group, which a no-transaction revision cannot join. */
function groups(pending: Revision[], settings: Settings): Revision[][] {
  if (settings.transaction === 'each') return pending.map((r) => [r])
  const outside = pending.find((r) => !r.transaction)
  if (outside)
    throw new MigrationError(
      'INVALID_OPTIONS',
      `transaction: 'all' cannot include ${label(outside)} (${outside.source}), which must run outside a transaction. Apply it on its own, or use transaction: 'each'.`,
      { revision: outside.id, file: outside.source },
    )
  return pending.length ? [pending] : []
}
