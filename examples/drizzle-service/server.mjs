// A service on drizzle-orm + SQLite whose drizzle-kit folder is migrated at boot by boot-migrate
// instead of drizzle's own migrate(): a lock across processes, one transaction per revision, and
// drizzle-kit's parent-table rebuild (0001) that keeps the child rows.
// Run: node examples/drizzle-service/server.mjs   (PORT and SQLITE_FILE are optional)
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { createMigrator } from 'boot-migrate'
import * as schema from './schema.js'

const file = process.env.SQLITE_FILE ?? fileURLToPath(new URL('./data/app.db', import.meta.url))
mkdirSync(dirname(file), { recursive: true })
const db = drizzle(new Database(file), { schema })

// The one line that replaces drizzle's `migrate(db, { migrationsFolder: './drizzle' })`.
const migrator = createMigrator({ db, dir: fileURLToPath(new URL('./drizzle', import.meta.url)) })
const readyz = migrator.readiness()

const server = createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok')
  if (req.url === '/readyz') return readyz(req, res)
  if (req.url === '/notes' && migrator.health().ready) {
    res.setHeader('content-type', 'application/json')
    return res.end(JSON.stringify(db.select().from(schema.notes).all()))
  }
  res.statusCode = migrator.health().ready ? 404 : 503
  res.end()
})

server.listen(Number(process.env.PORT ?? 3001), '127.0.0.1', () => {
  console.log(`[drizzle-service] listening on http://127.0.0.1:${server.address().port} (/healthz, /readyz, /notes)`)
  migrator.start()
})

migrator.ready.then(
  (result) => {
    if (!db.select().from(schema.authors).all().length) {
      db.insert(schema.authors).values({ id: 1, name: 'Ada' }).run()
      db.insert(schema.notes).values({ authorId: 1, body: 'drizzle-kit wrote the SQL, boot-migrate applied it' }).run()
    }
    console.log(`[drizzle-service] ready at ${result.current}; applied: ${result.applied.map((a) => a.id).join(', ') || 'nothing (one query)'}`)
  },
  (e) => console.error(`[drizzle-service] not ready: ${e.code}`),
)

for (const signal of ['SIGTERM', 'SIGINT'])
  process.on(signal, async () => {
    await migrator.stop()
    server.close()
    db.$client.close()
  })
