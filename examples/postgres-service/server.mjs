// A PostgreSQL service that listens at once and migrates in the background:
// liveness (/healthz) passes during a long migration, readiness (/readyz) only once the
// database is at the target. Run: DATABASE_URL=postgres://… node examples/postgres-service/server.mjs
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { createMigrator } from 'boot-migrate'

// No fallback: a default would create the example's tables in a database nobody named.
const url = process.env.DATABASE_URL
if (!url) {
  console.error('Set DATABASE_URL to the database to use, e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/notes node examples/postgres-service/server.mjs')
  process.exit(2)
}
const sql = postgres(url, { max: 5 })
const migrator = createMigrator({
  client: sql, // the app's pool: the no-op boot costs one query on it
  migrationUrl: process.env.MIGRATION_DATABASE_URL, // optional: a role with DDL rights
  dir: fileURLToPath(new URL('./migrations', import.meta.url)),
})
const readyz = migrator.readiness()

const server = createServer(async (req, res) => {
  if (req.url === '/healthz') return res.end('ok')
  if (req.url === '/readyz') return readyz(req, res)
  if (req.url === '/notes' && migrator.health().ready) {
    res.setHeader('content-type', 'application/json')
    return res.end(JSON.stringify(await sql`select id, body from notes order by id`))
  }
  res.statusCode = migrator.health().ready ? 404 : 503
  res.end()
})

server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port} (/healthz, /readyz, /notes)`)
  migrator.start()
})

// Kubernetes sends SIGTERM, then SIGKILL after the grace period: roll back the revision in flight,
// free the lock, close the pool.
for (const signal of ['SIGTERM', 'SIGINT'])
  process.on(signal, async () => {
    await migrator.stop()
    server.close()
    await sql.end({ timeout: 5 })
  })
