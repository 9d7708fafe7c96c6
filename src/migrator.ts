import { performance } from 'node:perf_hooks'
import type { Dialect, Session } from './dialects/dialect.js'
import { openDialect } from './dialects/open.js'
import { MigrationError, messageOf, scrubber } from './errors.js'
import { fetchHandler, initialHealth, nodeHandler, snapshot, type HealthState, type ReadinessOptions, type ResponseLike } from './health.js'
import { createLog } from './log.js'
import { secretsOf, settingsOf, type Settings } from './options.js'
import { plan, type HistoryRow, type Plan } from './plan.js'
import { compareIds } from './revisions/ids.js'
import { loadRevisions } from './revisions/load.js'
import { label, type Revision } from './revisions/revision.js'
import type { AppliedRevision, HealthSnapshot, MigrateOptions, MigrateResult, MigratorEvents, MigrationStatus } from './types.js'
import { jitter, sleep } from './wait.js'

export interface Migrator {
  /** Brings the database to the target. Calls while a run is in flight share it. */
  run(): Promise<MigrateResult>
  /** Runs in the background; the outcome lands in `health()`, `ready` and the events, never as an unhandled rejection. */
  start(): void
  /** Settles with the outcome of the first run: resolves at the target, rejects on failure. */
  readonly ready: Promise<MigrateResult>
  /** Cancels the run in flight (a transactional revision is rolled back), frees the lock and closes connections. */
  stop(): Promise<void>
  health(): HealthSnapshot
  /** Node `(req, res)` readiness handler: 200 with a small JSON body when ready, 503 otherwise. */
  readiness(options?: ReadinessOptions): (req: { method?: string }, res: ResponseLike) => void
  /** Fetch-style `(Request) => Response` readiness handler (Hono, Next.js route handlers, workers). */
  fetchHandler(options?: ReadinessOptions): (req?: Request) => Response
  /** Clears a dirty revision once a human has looked: `applied` if it completed, `rolled-back` once undone. */
  resolve(id: string, outcome: 'applied' | 'rolled-back'): Promise<void>
  on<E extends keyof MigratorEvents>(event: E, listener: (payload: MigratorEvents[E]) => void): () => void
}

const TX_CONTROL = /^(begin|start\s+transaction|commit|end|rollback|abort)\b\s*(transaction|work)?\s*$/i

export function createMigrator(options: MigrateOptions): Migrator {
  const scrub = scrubber(secretsOf(options ?? {}))
  const log = createLog(options?.logger, scrub)
  const state: HealthState = initialHealth()
  const listeners = new Map<keyof MigratorEvents, Set<(p: never) => void>>()
  const stopper = new AbortController()
  const signal = options?.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal
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
  const aborted = (during: string) => {
    if (signal.aborted) throw new MigrationError('ABORTED', `Stopped ${during}.`, { cause: signal.reason })
  }

  /** Opens the dialect and the revisions, runs `work`, and always closes what it opened. */
  async function withDatabase<T>(work: (dialect: Dialect, revisions: Revision[], settings: Settings) => Promise<T>): Promise<T> {
    const settings = settingsOf(options)
    const dialect = await openDialect(options, {
      table: settings.table,
      schema: settings.schema,
      instanceId: settings.instanceId,
      ddlLockTimeout: settings.ddlLockTimeout,
      lockStale: settings.lockStale,
      debug: (m) => log.debug(m),
    })
    try {
      const revisions = await loadRevisions(options.migrations ? { migrations: options.migrations } : { dir: options.dir ?? './migrations' }, dialect.syntax)
      validate(revisions, dialect)
      return await work(dialect, revisions, settings)
    } finally {
      await dialect.close().catch((e) => log.warn(`closing the connection failed: ${messageOf(e)}`))
    }
  }

  /** Opens the migration session, takes the lock, runs `work`, and always frees both. */
  async function withLock<T>(dialect: Dialect, settings: Settings, work: (session: Session) => Promise<T>): Promise<T> {
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
  }

  const execute = () =>
    withDatabase(async (dialect, revisions, settings) => {
      const started = performance.now()
      const finish = (p: Plan, applied: AppliedRevision[], upToDate: boolean): MigrateResult => {
        const current = applied.reduce<string | null>((c, a) => (c === null || compareIds(a.id, c) > 0 ? a.id : c), p.current)
        if (p.unknown.length)
          log.warn(`the database has revisions this code does not ship: ${p.unknown.join(', ')} (a newer deploy ran them; allowed)`, { unknown: p.unknown })
        return { applied, current, target: p.target, unknown: p.unknown, upToDate, durationMs: Math.round(performance.now() - started) }
      }
      const track = (p: Plan) => {
        state.current = p.current
        state.target = p.target
        state.pending = p.pending.map((r) => r.id)
        return p
      }

      let p = track(plan(revisions, await reachable(dialect, settings, () => dialect.readHistory()), settings))
      if (!p.pending.length && !p.running.length) return finish(p, [], true)
      if (settings.mode === 'wait') return finish(await waitForTarget(dialect, revisions, settings, track), [], true)
      aborted('before migrating')

      return withLock(dialect, settings, async (session) => {
        let rows: HistoryRow[] | null = await session.readHistory()
        if (!rows) {
          await session.createHistory()
          rows = []
        }
        p = track(plan(revisions, rows, settings))
        if (p.running.length) throw await dirty(p.running, revisions, session)
        if (!p.pending.length) {
          log.info(`${dialect.display} is already at ${p.current ?? 'an empty history'}: another process applied the revisions`)
          return finish(p, [], true)
        }
        log.info(`applying ${p.pending.length} revision(s) to ${dialect.display}: ${p.pending.map(label).join(', ')}`)
        status('migrating')
        const applied: AppliedRevision[] = []
        for (const group of groups(p.pending, settings)) {
          aborted(`before ${label(group[0]!)}; nothing of it is applied`)
          const durations = await withDdlRetry(session, settings, group, () =>
            group.length === 1 && !group[0]!.transaction
              ? session.applyOutsideTransaction(group[0]!, hooks).then((d) => [d])
              : session.applyInTransaction(group, hooks),
          ).catch((e: unknown) => {
            if (!(signal.aborted && e instanceof MigrationError && e.code === 'MIGRATION_FAILED')) throw e
            const rev = group.find((r) => r.id === e.revision) ?? group[0]!
            throw new MigrationError(
              'ABORTED',
              `Stopped while applying ${label(rev)}. ` +
                (rev.transaction
                  ? 'It was rolled back: nothing of it is applied.'
                  : `It ran outside a transaction and is left dirty: inspect the database, then run \`boot-migrate resolve ${rev.id} --applied\` or \`--rolled-back\`.`),
              { revision: rev.id, file: rev.source, cause: e },
            )
          })
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
      })
    })

  const hooks = {
    started(rev: Revision) {
      state.applying = { id: rev.id, name: rev.name, since: Date.now() }
      log.info(`applying ${label(rev)}${rev.transaction ? '' : ' (outside a transaction)'}`, { revision: rev.id })
      emit('migration:start', { id: rev.id, name: rev.name })
    },
    log: (rev: Revision) => (m: string, f?: Record<string, unknown>) => log.info(`${label(rev)}: ${m}`, f),
    signal,
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

  /** `mode: 'wait'`: polls the history (one query each time) until another process has reached the target. */
  async function waitForTarget(dialect: Dialect, revisions: Revision[], settings: Settings, track: (p: Plan) => Plan): Promise<Plan> {
    const since = Date.now()
    status('waiting-for-migration')
    log.info(`waiting for another process to apply ${state.pending.join(', ')} (mode: wait)`)
    for (let delay = 100; ; delay = Math.min(delay * 2, 500)) {
      const waited = Date.now() - since
      if (waited >= settings.waitTimeout)
        throw new MigrationError(
          'WAIT_TIMEOUT',
          `Waited ${Math.round(waited / 1000)}s for another process to apply ${state.pending.join(', ')}; mode 'wait' never migrates. ` +
            'Check the process that should migrate (init container, CI job or a replica in mode "migrate").',
        )
      await sleep(Math.min(jitter(delay), settings.waitTimeout - waited), signal)
      aborted('while waiting for another process to migrate')
      const p = track(plan(revisions, await reachable(dialect, settings, () => dialect.readHistory()), settings))
      if (!p.pending.length && !p.running.length) return p
    }
  }

  /** Retries a revision that hit lock_timeout, naming the sessions that held the lock it waited for. */
  async function withDdlRetry<T>(session: Session, settings: Settings, group: Revision[], apply: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let blockers: string[] = []
      // Ask who blocks us while we still wait: once our statement gives up, the server no longer knows.
      const watch = setTimeout(
        () => void session.blockers().then((b) => void (blockers = b), () => undefined),
        Math.max(10, settings.ddlLockTimeout * 0.6),
      )
      try {
        return await apply()
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

  /** Every error leaves as a MigrationError without secrets. */
  const failed = (e: unknown): MigrationError => {
    const error = e instanceof MigrationError ? e : new MigrationError('MIGRATION_FAILED', messageOf(e), { cause: e })
    error.message = scrub(error.message)
    return error
  }

  function run(): Promise<MigrateResult> {
    if (inflight) return inflight
    Object.assign(state, initialHealth(), { status: 'starting' })
    const p = execute().then(
      (result) => {
        status('ready')
        state.applying = null
        log.info(result.applied.length ? `ready at ${result.current} after ${result.durationMs} ms` : `up to date at ${result.current ?? 'an empty history'}`, {
          current: result.current,
          durationMs: result.durationMs,
        })
        settle.resolve(result)
        emit('ready', result)
        return result
      },
      (e: unknown) => {
        const error = failed(e)
        status('failed')
        state.applying = null
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
    async stop() {
      stopper.abort(new Error('migrator.stop()'))
      await inflight?.catch(() => undefined)
    },
    health: () => snapshot(state),
    readiness: (o) => nodeHandler(() => snapshot(state), o),
    fetchHandler: (o) => fetchHandler(() => snapshot(state), o),
    async resolve(id, outcome) {
      try {
        await withDatabase((dialect, _revisions, settings) =>
          withLock(dialect, settings, async (session) => {
            if (!(await session.resolve(id, outcome)))
              throw new MigrationError('INVALID_OPTIONS', `Revision ${id} is not dirty (no "running" history row); nothing to resolve.`, { revision: id })
            log.info(outcome === 'applied' ? `marked ${id} as applied` : `removed the running row of ${id}; it will run again on the next boot`)
          }),
        )
      } catch (e) {
        throw failed(e)
      }
    },
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
