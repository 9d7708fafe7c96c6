import type { HealthState } from '../health.js'
import type { TelemetryOption } from '../types.js'
import { replicasOf, type RunRecord } from './stats.js'

type Api = typeof import('@opentelemetry/api')

/** The API's global (trace and metrics providers) lives here once an SDK registered one: API major version 1. */
const GLOBAL = Symbol.for('opentelemetry.js.api.1')
const registered = () => {
  const g = (globalThis as Record<symbol, { trace?: unknown; metrics?: unknown } | undefined>)[GLOBAL]
  return !!(g?.trace || g?.metrics)
}

let api: Api | undefined
let loading: Promise<Api | undefined> | undefined
/** The optional peer, loaded once and only when something listens; absent, telemetry is a no-op. */
const loadApi = () =>
  (loading ??= (async () => {
    // In a try: the CommonJS build turns this import() into a require() that throws where it stands.
    try {
      const m = (await import('@opentelemetry/api')) as Api & { default?: Api }
      // The namespace (SpanStatusCode is not on the ESM default export); `default` where a bundler wrapped CommonJS.
      return (api = m.trace ? m : m.default)
    } catch {
      return undefined
    }
  })())

type Instruments = ReturnType<typeof instrumentsOf>
const byMeter = new WeakMap<object, Instruments>()

function instrumentsOf(a: Api, meter: ReturnType<Api['metrics']['getMeter']>) {
  return {
    run: meter.createHistogram('boot_migrate.run.duration', { unit: 's', description: 'Duration of run(), lock wait included.' }),
    lock: meter.createHistogram('boot_migrate.lock.wait', { unit: 's', description: 'Time waited for the migration lock.' }),
    applied: meter.createCounter('boot_migrate.revisions.applied', { unit: '{revision}', description: 'Revisions applied (and reverted, direction=down).' }),
    pending: meter.createObservableGauge('boot_migrate.revisions.pending', { unit: '{revision}', description: 'Revisions the database has not applied.' }),
    lagBytes: meter.createObservableGauge('boot_migrate.replica.lag', { unit: 'By', description: 'Read replica lag behind the primary, in bytes of WAL.' }),
    lagSeconds: meter.createObservableGauge('boot_migrate.replica.lag_time', { unit: 's', description: 'Read replica lag behind the primary, in seconds.' }),
    a,
  }
}

/**
 * OpenTelemetry for one migrator: spans and metrics made from the record of each run(), down() or resolve() once it
 * ends (with the times the events carried), so nothing of the API or an SDK runs during one. Off with `telemetry:
 * false`; otherwise on when providers are given or an SDK registered global ones by the time it starts. Loading the
 * API is started then, so that it is there when it ends.
 */
export function otelFor(option: TelemetryOption | undefined, state: HealthState) {
  if (option === false) return { starting() {}, ended() {} }
  let observing = false
  const meterOf = (a: Api) => (option?.meterProvider ?? a.metrics.getMeterProvider()).getMeter('boot-migrate') as ReturnType<Api['metrics']['getMeter']>
  const tracerOf = (a: Api) => (option?.tracerProvider ?? a.trace.getTracerProvider()).getTracer('boot-migrate') as ReturnType<Api['trace']['getTracer']>
  const instruments = (a: Api) => {
    const meter = meterOf(a)
    let i = byMeter.get(meter)
    if (!i) byMeter.set(meter, (i = instrumentsOf(a, meter)))
    if (!observing) {
      observing = true
      i.pending.addCallback((r) => r.observe(state.pending.length))
      i.lagBytes.addCallback((r) => {
        for (const x of replicasOf(state)) if (x.lagBytes !== null) r.observe(x.lagBytes, { 'boot_migrate.replica': x.name })
      })
      i.lagSeconds.addCallback((r) => {
        for (const x of replicasOf(state)) if (x.lagSeconds !== null) r.observe(x.lagSeconds, { 'boot_migrate.replica': x.name })
      })
    }
    return i
  }
  const on = () => option !== undefined || registered()
  return {
    starting() {
      if (on()) void loadApi()
    },
    ended(run: RunRecord) {
      if (!on()) return
      if (api) safely(api, run)
      else void loadApi().then((a) => a && safely(a, run))
    },
  }

  /** Telemetry never fails a run, nor leaves an unhandled rejection: a provider that throws loses its data only. */
  function safely(a: Api, run: RunRecord) {
    try {
      record(a, run)
    } catch (e) {
      a.diag.warn(`boot-migrate: recording the ${run.operation}'s telemetry failed: ${e instanceof Error ? e.message : String(e)}`)
    }
  }

  function record(a: Api, run: RunRecord) {
    const tracer = tracerOf(a)
    const failed = (span: ReturnType<typeof tracer.startSpan>, code: string | undefined) => {
      // The code only: a database's message can quote a row's values or the statement.
      span.setAttribute('error.type', code ?? 'MIGRATION_FAILED')
      span.setStatus({ code: a.SpanStatusCode.ERROR, message: code ?? 'MIGRATION_FAILED' })
    }
    const count = (outcome: 'applied' | 'reverted') => run.revisions.filter((r) => r.outcome === outcome).length
    const root = tracer.startSpan(`boot-migrate.${run.operation}`, {
      startTime: new Date(run.start),
      attributes: {
        // `ready` is run()'s word (the database is at the target); down() and resolve() reach no target.
        'boot_migrate.outcome': run.outcome === 'ready' && run.operation !== 'run' ? 'done' : run.outcome,
        // pending is the health state's, which only run() keeps.
        ...(run.operation === 'run' ? { 'boot_migrate.applied': count('applied'), 'boot_migrate.pending': state.pending.length } : {}),
        ...(run.operation === 'down' ? { 'boot_migrate.reverted': count('reverted') } : {}),
        ...(run.resolved ? { 'boot_migrate.revision.id': run.resolved.id, 'boot_migrate.resolution': run.resolved.resolution } : {}),
        ...(run.current === null ? {} : { 'boot_migrate.current': run.current }),
        ...(run.target === null ? {} : { 'boot_migrate.target': run.target }),
      },
    })
    const parent = a.trace.setSpan(a.context.active(), root)
    if (run.lock) {
      const span = tracer.startSpan('boot-migrate.lock', { startTime: new Date(run.lock.end - run.lock.waitedMs), attributes: { 'boot_migrate.lock.wait_ms': run.lock.waitedMs } }, parent)
      span.end(new Date(run.lock.end))
    }
    for (const r of run.revisions) {
      const end = r.end ?? run.end
      const span = tracer.startSpan(
        'boot-migrate.revision',
        {
          startTime: new Date(r.start),
          attributes: {
            'boot_migrate.revision.id': r.id,
            'boot_migrate.revision.name': r.name,
            'boot_migrate.revision.transaction': r.transaction ? 'transaction' : 'none',
            'boot_migrate.revision.direction': r.direction,
            'boot_migrate.revision.duration_ms': r.durationMs ?? end - r.start,
            // A revision still open when the run ended was cut short with it (its failure is the run's).
            'boot_migrate.revision.outcome': r.outcome ?? 'failed',
          },
        },
        parent,
      )
      if (!r.outcome || r.outcome === 'failed') failed(span, r.code ?? run.code)
      span.end(new Date(end))
    }
    if (run.outcome === 'failed') failed(root, run.code)
    root.end(new Date(run.end))

    const i = instruments(a)
    // run()'s duration only: a revert or a resume in the same histogram would skew what boot time looks like.
    if (run.operation === 'run') i.run.record((run.end - run.start) / 1000, { 'boot_migrate.outcome': run.outcome })
    if (run.lock) i.lock.record(run.lock.waitedMs / 1000)
    for (const r of run.revisions) if (r.outcome === 'applied' || r.outcome === 'reverted') i.applied.add(1, { 'boot_migrate.revision.direction': r.direction })
  }
}
