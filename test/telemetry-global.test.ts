// The default providers: OpenTelemetry's global ones, used when an SDK registered them and the app passed none.
// One file of its own, since registering globals lasts for the whole test file. Dialect-independent: SQLite.
import { metrics, trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { freshFile } from './sqlite-helpers.js'

const exporter = new InMemorySpanExporter()
beforeAll(() => void trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })))
afterAll(() => {
  trace.disable()
  metrics.disable()
})

const runs = () => exporter.getFinishedSpans().filter((s) => s.name === 'boot-migrate.run')

it('traces a run with the global tracer provider when no telemetry option is given', async () => {
  exporter.reset()
  await createMigrator({ url: `sqlite:${await freshFile()}`, migrations: [{ id: '0001', up: 'create table t (x int);' }], logger: false }).run()
  await expect.poll(() => runs().length).toBe(1)
  expect(exporter.getFinishedSpans().map((s) => s.name).sort()).toEqual(['boot-migrate.lock', 'boot-migrate.revision', 'boot-migrate.run'])
})

it('makes no span with telemetry: false, even with a global provider', async () => {
  exporter.reset()
  const m = createMigrator({ url: `sqlite:${await freshFile()}`, migrations: [{ id: '0001', up: 'create table t (x int);' }], telemetry: false, logger: false })
  await m.run()
  // A second migrator's run, traced, marks the moment by which the first one's spans would have been exported.
  await createMigrator({ url: `sqlite:${await freshFile()}`, migrations: [{ id: '0001', up: 'create table t (x int);' }], logger: false }).run()
  await expect.poll(() => runs().length).toBe(1)
  expect(exporter.getFinishedSpans()).toHaveLength(3)
})

it('refuses a telemetry option that is not providers with INVALID_OPTIONS', async () => {
  const m = createMigrator({ url: `sqlite:${await freshFile()}`, migrations: [], telemetry: { tracerProvider: {} } as never, logger: false })
  await expect(m.run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('"telemetry" must be false or { tracerProvider?, meterProvider? }') })
})
