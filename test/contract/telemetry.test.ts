import { spawnSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { MeterProvider, MetricReader, type DataPoint, type Histogram } from '@opentelemetry/sdk-metrics'
import { SpanStatusCode } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions, root } from '../helpers.js'
import { eventually, failure, quiet } from './support.js'
import { targets } from './targets.js'

/** A reader whose collect() the test calls: the SDK's own aggregation, read when the test wants it. */
class TestReader extends MetricReader {
  protected async onForceFlush() {}
  protected async onShutdown() {}
}

function otel() {
  const exporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const reader = new TestReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  return {
    telemetry: { tracerProvider, meterProvider },
    /** The spans, once the operation's root (the last one ended) is exported. */
    spans: async (root = 'boot-migrate.run') => {
      await expect.poll(() => exporter.getFinishedSpans().some((s) => s.name === root), eventually).toBe(true)
      return exporter.getFinishedSpans()
    },
    /** Each metric's data points by name. */
    metrics: async () => {
      const { resourceMetrics } = await reader.collect()
      const out = new Map<string, DataPoint<unknown>[]>()
      for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m.dataPoints as DataPoint<unknown>[])
      return out
    },
  }
}

const two = {
  '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
  '0002_b.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate table b (x int);\n',
}
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
const reversible = {
  '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n-- migrate:down\ndrop table a;\n',
  '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n-- migrate:down\ndrop table b;\n',
}
/** A no-transaction revision whose second statement fails, leaving it dirty with the first recorded. */
const halfway = (second: string) => ({ ...reversible, '0003_c.sql': `-- migrate:up\n-- migrate:no-transaction\ncreate table c1 (x int);\n${second}\n` })

/** Prometheus text as samples, checking that each sample's family has HELP and TYPE lines before it. */
function parsePrometheus(text: string) {
  const help = new Set<string>()
  const type = new Map<string, string>()
  const samples = new Map<string, number>()
  for (const line of text.trimEnd().split('\n')) {
    const h = /^# HELP (\w+) .+$/.exec(line)
    const t = /^# TYPE (\w+) (gauge|counter)$/.exec(line)
    if (h) help.add(h[1]!)
    else if (t) type.set(t[1]!, t[2]!)
    else {
      const m = /^(\w+)(\{[^}]*\})? (-?[\d.e+-]+)$/.exec(line)
      expect(m, `a sample line: ${line}`).not.toBeNull()
      expect(help.has(m![1]!) && type.has(m![1]!), `HELP and TYPE before ${line}`).toBe(true)
      samples.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]))
    }
  }
  return samples
}

describe.each(targets)('observability ($label)', (target) => {
  it('makes a run span with the lock wait and one span per applied revision under it, with their attributes', async () => {
    const db = await target.fresh()
    const o = otel()
    await createMigrator({ ...db.connection, dir: await revisions(two), telemetry: o.telemetry, ...quiet }).run()
    const spans = await o.spans()
    const run = spans.find((s) => s.name === 'boot-migrate.run')!
    expect(run.attributes).toMatchObject({ 'boot_migrate.outcome': 'ready', 'boot_migrate.applied': 2, 'boot_migrate.current': '0002', 'boot_migrate.target': '0002' })
    expect(run.status.code).not.toBe(SpanStatusCode.ERROR)
    const lock = spans.find((s) => s.name === 'boot-migrate.lock')!
    expect(parentOf(lock)).toBe(run.spanContext().spanId)
    expect(typeof lock.attributes['boot_migrate.lock.wait_ms']).toBe('number')
    const revs = spans.filter((s) => s.name === 'boot-migrate.revision')
    expect(revs.map((s) => [s.attributes['boot_migrate.revision.id'], s.attributes['boot_migrate.revision.transaction']])).toEqual([
      ['0001', target.transactionalDdl ? 'transaction' : 'none'],
      ['0002', 'none'],
    ])
    for (const s of revs) {
      expect(parentOf(s)).toBe(run.spanContext().spanId)
      expect(s.attributes).toMatchObject({ 'boot_migrate.revision.direction': 'up', 'boot_migrate.revision.outcome': 'applied' })
      expect(typeof s.attributes['boot_migrate.revision.duration_ms']).toBe('number')
    }
    expect(revs[0]!.attributes['boot_migrate.revision.name']).toBe('a')
  })

  it('records a failed revision on its span and on the run span with the error code only, never the SQL', async () => {
    const db = await target.fresh()
    const o = otel()
    const dir = await revisions({ ...two, '0003_bad.sql': "-- migrate:up\ninsert into nowhere values ('s3cret');\n" })
    const error = await failure(createMigrator({ ...db.connection, dir, telemetry: o.telemetry, ...quiet }).run())
    const spans = await o.spans()
    const run = spans.find((s) => s.name === 'boot-migrate.run')!
    const bad = spans.find((s) => s.attributes['boot_migrate.revision.id'] === '0003')!
    expect(bad.attributes).toMatchObject({ 'boot_migrate.revision.outcome': 'failed', 'error.type': error.code })
    expect(bad.status).toEqual({ code: SpanStatusCode.ERROR, message: error.code })
    expect(run.attributes).toMatchObject({ 'boot_migrate.outcome': 'failed', 'error.type': error.code })
    expect(run.status.code).toBe(SpanStatusCode.ERROR)
    expect(JSON.stringify(spans.map((s) => [s.attributes, s.status, s.events]))).not.toContain('s3cret')
  })

  it('makes a down span with the lock wait and one span per reverted revision, newest first, direction down', async () => {
    const db = await target.fresh()
    const o = otel()
    const dir = await revisions(reversible)
    await createMigrator({ ...db.connection, dir, telemetry: false, ...quiet }).run()
    await createMigrator({ ...db.connection, dir, telemetry: o.telemetry, ...quiet }).down({ steps: 2 })
    const spans = await o.spans('boot-migrate.down')
    expect(spans.some((s) => s.name === 'boot-migrate.run')).toBe(false)
    const down = spans.find((s) => s.name === 'boot-migrate.down')!
    expect(down.attributes).toMatchObject({ 'boot_migrate.outcome': 'done', 'boot_migrate.reverted': 2 })
    expect(down.status.code).not.toBe(SpanStatusCode.ERROR)
    expect(parentOf(spans.find((s) => s.name === 'boot-migrate.lock')!)).toBe(down.spanContext().spanId)
    const revs = spans.filter((s) => s.name === 'boot-migrate.revision')
    expect(revs.map((s) => s.attributes['boot_migrate.revision.id'])).toEqual(['0002', '0001'])
    for (const s of revs) {
      expect(parentOf(s)).toBe(down.spanContext().spanId)
      expect(s.attributes).toMatchObject({ 'boot_migrate.revision.direction': 'down', 'boot_migrate.revision.outcome': 'reverted' })
    }
    // Counted as reverted; a down is no run, so the run duration has no sample.
    const metrics = await o.metrics()
    expect(metrics.get('boot_migrate.revisions.applied')!.map((p) => [p.attributes['boot_migrate.revision.direction'], p.value])).toEqual([['down', 2]])
    expect(metrics.get('boot_migrate.run.duration')?.length ?? 0).toBe(0)
  })

  it('records a failed down on its span and the revision span with the error code only, never the SQL', async () => {
    const db = await target.fresh()
    const o = otel()
    const dir = await revisions({ ...reversible, '0002_b.sql': "-- migrate:up\ncreate table b (x int);\n-- migrate:down\ninsert into nowhere values ('s3cret');\n" })
    await createMigrator({ ...db.connection, dir, telemetry: false, ...quiet }).run()
    const error = await failure(createMigrator({ ...db.connection, dir, telemetry: o.telemetry, ...quiet }).down())
    const spans = await o.spans('boot-migrate.down')
    const down = spans.find((s) => s.name === 'boot-migrate.down')!
    expect(down.attributes).toMatchObject({ 'boot_migrate.outcome': 'failed', 'error.type': error.code })
    expect(down.status).toEqual({ code: SpanStatusCode.ERROR, message: error.code })
    const bad = spans.find((s) => s.name === 'boot-migrate.revision')!
    expect(bad.attributes).toMatchObject({ 'boot_migrate.revision.id': '0002', 'boot_migrate.revision.direction': 'down', 'boot_migrate.revision.outcome': 'failed' })
    expect(bad.status).toEqual({ code: SpanStatusCode.ERROR, message: error.code })
    expect(JSON.stringify(spans.map((s) => [s.name, s.attributes, s.status, s.events]))).not.toMatch(/s3cret|nowhere/)
  })

  it('makes a resolve span with the revision and the mode, the lock wait and the resumed revision under it', async () => {
    const db = await target.fresh()
    const o = otel()
    const dir = await revisions(halfway('insert into nowhere values (1);'))
    expect(await failure(createMigrator({ ...db.connection, dir, telemetry: false, ...quiet }).run())).toMatchObject({ revision: '0003' })
    await writeFile(join(dir, '0003_c.sql'), halfway('create table c2 (x int);')['0003_c.sql'])
    await createMigrator({ ...db.connection, dir, telemetry: o.telemetry, ...quiet }).resolve('0003', 'resume')
    const spans = await o.spans('boot-migrate.resolve')
    const resolve = spans.find((s) => s.name === 'boot-migrate.resolve')!
    expect(resolve.attributes).toMatchObject({ 'boot_migrate.outcome': 'done', 'boot_migrate.revision.id': '0003', 'boot_migrate.resolution': 'resume' })
    expect(resolve.status.code).not.toBe(SpanStatusCode.ERROR)
    expect(parentOf(spans.find((s) => s.name === 'boot-migrate.lock')!)).toBe(resolve.spanContext().spanId)
    const revs = spans.filter((s) => s.name === 'boot-migrate.revision')
    expect(revs).toHaveLength(1)
    expect(parentOf(revs[0]!)).toBe(resolve.spanContext().spanId)
    expect(revs[0]!.attributes).toMatchObject({
      'boot_migrate.revision.id': '0003',
      'boot_migrate.revision.transaction': 'none',
      'boot_migrate.revision.direction': 'up',
      'boot_migrate.revision.outcome': 'applied',
    })
  })

  it('counts applied revisions and records the run duration and lock wait as metrics, with the pending count', async () => {
    const db = await target.fresh()
    const o = otel()
    const m = createMigrator({ ...db.connection, dir: await revisions(two), telemetry: o.telemetry, ...quiet })
    await m.run()
    await o.spans()
    const metrics = await o.metrics()
    expect(metrics.get('boot_migrate.revisions.applied')!.map((p) => p.value)).toEqual([2])
    expect((metrics.get('boot_migrate.run.duration')![0]!.value as Histogram).count).toBe(1)
    expect((metrics.get('boot_migrate.lock.wait')![0]!.value as Histogram).count).toBe(1)
    expect(metrics.get('boot_migrate.revisions.pending')!.map((p) => p.value)).toEqual([0])
  })

  it('answers metrics() in Prometheus text format with the numbers of the run, HELP and TYPE for every sample', async () => {
    const db = await target.fresh()
    const m = createMigrator({ ...db.connection, dir: await revisions(two), telemetry: false, ...quiet })
    await m.run()
    let body = ''
    const headers: Record<string, string> = {}
    m.metrics()({ method: 'GET' }, { statusCode: 0, setHeader: (k, v) => (headers[k] = v), end: (b?: string) => void (body = b ?? '') })
    expect(headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8')
    const samples = parsePrometheus(body)
    expect(samples.get('boot_migrate_ready')).toBe(1)
    expect(samples.get('boot_migrate_runs_total{outcome="ready"}')).toBe(1)
    expect(samples.get('boot_migrate_runs_total{outcome="failed"}')).toBe(0)
    expect(samples.get('boot_migrate_revisions_applied_total')).toBe(2)
    expect(samples.get('boot_migrate_pending_revisions')).toBe(0)
    expect(samples.has('boot_migrate_run_duration_seconds{outcome="ready"}')).toBe(true)
    expect(samples.has('boot_migrate_lock_wait_seconds')).toBe(true)
    expect(await m.metricsFetchHandler()().text()).toBe(m.metricsText())
  })
})

describe('observability without @opentelemetry/api', () => {
  it('migrates and answers metrics() in a process that cannot resolve the package', async () => {
    const worker = join(root, 'test/workers/without-otel-api.mjs')
    const out = spawnSync(process.execPath, ['--import', join(root, 'test/workers/without-otel-api-hooks.mjs'), worker], { encoding: 'utf8', timeout: 60_000 })
    expect(out.stderr).toBe('')
    expect(JSON.parse(out.stdout)).toEqual({ resolvable: false, applied: ['0001'], prometheus: true })
  })
})
