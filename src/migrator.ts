import type { Dialects } from './dialects/open.js'
import { down } from './down.js'
import { MigrationError, messageOf } from './errors.js'
import { scrubError, scrubber, secretsOf, urlsOf } from './secrets.js'
import { fetchHandler, initialHealth, nodeHandler, snapshot, type HealthState, type ReadinessOptions, type ResponseLike } from './health.js'
import { revisions, script, status } from './inspect.js'
import { createLog } from './log.js'
import { optionsProblem } from './options.js'
import { resolve, stamp } from './repair.js'
import { createRunner, type Emit } from './runner.js'
import type { DownOptions, DownResult, Resolution, HealthSnapshot, LocalRevision, MigrateOptions, MigrateResult, MigratorEvents, StatusReport } from './types.js'
import { up } from './up.js'
import { otelFor } from './telemetry/otel.js'
import { metricsFetchHandler, metricsHandler, prometheusText } from './telemetry/prometheus.js'
import { trackStats, type Settled } from './telemetry/stats.js'

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
  /** Node `(req, res)` handler answering Prometheus' text format (0.0.4): run outcome and duration, lock wait, revisions, replica lag. */
  metrics(): (req: { method?: string }, res: ResponseLike) => void
  /** The same metrics, fetch-style. */
  metricsFetchHandler(): (req?: Request) => Response
  /** The same metrics as text, for a /metrics route of your own. */
  metricsText(): string
  /** Reverts the newest applied revisions (default one), newest first. */
  down(options?: DownOptions): Promise<DownResult>
  /** Every revision, applied or pending, with applied_at, duration and applied_by; unknown and dirty ones. */
  status(): Promise<StatusReport>
  /** Records the revisions up to `id` as applied without running them (adopting an existing database). */
  stamp(id: string): Promise<string[]>
  /** The revisions this code ships, parsed and checked (ids, sections, transaction rules); reads no database. */
  revisions(): Promise<LocalRevision[]>
  /** The SQL `run()` would send, history writes included. With `from`, the database is not read. */
  script(options?: { from?: string; to?: string }): Promise<string>
  /**
   * Clears a dirty revision: `resume` checks the hashes of its applied statements against the file and runs the
   * rest; `applied` (it completed) or `rolled-back` (it is undone) once a human has fixed the database by hand.
   */
  resolve(id: string, outcome: Resolution): Promise<void>
  on<E extends keyof MigratorEvents>(event: E, listener: (payload: MigratorEvents[E]) => void): () => void
}

/** `createMigrator` of an entry point, with the dialects it carries. */
export function createMigratorWith(dialects: Dialects, options: MigrateOptions): Migrator {
  // Wrong options never throw here: run() and every operation reject with this INVALID_OPTIONS error.
  const invalid = optionsProblem(options)
  const scrub = scrubber(secretsOf(options), urlsOf(options))
  const log = createLog(invalid && /"logger"/.test(invalid.message) ? undefined : options?.logger, scrub)
  const state: HealthState = initialHealth()
  const listeners = new Map<keyof MigratorEvents, Set<(p: never) => void>>()
  const stopper = new AbortController()
  const signal = !invalid && options.signal ? AbortSignal.any([options.signal, stopper.signal]) : stopper.signal
  let inflight: Promise<MigrateResult> | undefined
  let settle: { resolve(r: MigrateResult): void; reject(e: unknown): void }
  const ready = new Promise<MigrateResult>((resolve, reject) => (settle = { resolve, reject }))
  ready.catch(() => undefined)

  const emit: Emit = (event, payload) => {
    for (const l of listeners.get(event) ?? []) {
      try {
        ;(l as (p: typeof payload) => void)(payload)
      } catch (e) {
        log.error(`a "${event}" listener threw: ${messageOf(e)}`)
      }
    }
  }
  const on: Migrator['on'] = (event, listener) => {
    const set = listeners.get(event) ?? new Set()
    listeners.set(event, set)
    set.add(listener as (p: never) => void)
    return () => void set.delete(listener as (p: never) => void)
  }
  const otel = otelFor(invalid ? false : options.telemetry, state)
  on('run:start', () => otel.starting())
  const { stats, settle: settleRecord } = trackStats(on, (record) => otel.ended(record))
  const metricsText = () => prometheusText(stats, state)
  const runner = createRunner(invalid ? {} : options, log, state, emit, signal, dialects)

  /** Every error leaves as a MigrationError without secrets: in its message, stack, properties and cause chain. */
  const failed = (e: unknown): MigrationError => {
    const error = e instanceof MigrationError ? e : new MigrationError('MIGRATION_FAILED', messageOf(e), { cause: e })
    return scrubError(error, scrub)
  }
  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      if (invalid) throw invalid
      return await work()
    } catch (e) {
      throw failed(e)
    }
  }

  /** down() and resolve(): `run:start` and the lock and revision events as run() has them, settled here as they have no end event. */
  const traced = async <T>(operation: 'down' | 'resolve', work: () => Promise<T>, extra: (result?: T) => Settled): Promise<T> => {
    emit('run:start', { at: Date.now(), operation })
    try {
      const result = await guarded(work)
      settleRecord('ready', extra(result))
      return result
    } catch (e) {
      settleRecord('failed', { ...extra(), code: (e as MigrationError).code })
      throw e
    }
  }

  function run(): Promise<MigrateResult> {
    if (inflight) return inflight
    Object.assign(state, initialHealth(), { status: 'starting' })
    delete state.replicas
    emit('run:start', { at: Date.now(), operation: 'run' })
    const p = (invalid ? Promise.reject(invalid) : up(runner)).then(
      (result) => {
        state.status = 'ready'
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
        state.status = 'failed'
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
    down: (o) => traced('down', () => down(runner, o), (r) => ({ current: r?.current ?? null, target: null })),
    status: () => guarded(() => status(runner)),
    stamp: (id) => guarded(() => stamp(runner, id)),
    script: (o) => guarded(() => script(runner, o)),
    revisions: () => guarded(() => revisions(runner)),
    resolve: (id, outcome) => traced('resolve', () => resolve(runner, id, outcome), () => ({ current: null, target: null, resolved: { id, resolution: outcome } })),
    metrics: () => metricsHandler(metricsText),
    metricsFetchHandler: () => metricsFetchHandler(metricsText),
    metricsText,
    on,
  }
}
