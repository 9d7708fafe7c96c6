// A migrator with telemetry asked for, in a process where @opentelemetry/api cannot be resolved (see
// without-otel-api-hooks.mjs): the run and metrics() work, telemetry does nothing. Prints what it saw as JSON.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMigrator } from '../../dist/index.js'

const resolvable = await import('@opentelemetry/api').then(() => true, () => false)
const never = () => {
  throw new Error('a provider was called without the API')
}
const m = createMigrator({
  url: `sqlite:${join(mkdtempSync(join(tmpdir(), 'boot-migrate-otel-')), 'db.sqlite')}`,
  migrations: [{ id: '0001', up: 'create table t (x int);' }],
  telemetry: { tracerProvider: { getTracer: never }, meterProvider: { getMeter: never } },
  logger: false,
})
const result = await m.run()
// Long enough for a failed import to have settled and anything after it to have run.
await new Promise((r) => setTimeout(r, 200))
process.stdout.write(JSON.stringify({ resolvable, applied: result.applied.map((a) => a.id), prometheus: m.metricsText().includes('boot_migrate_revisions_applied_total 1') }))
