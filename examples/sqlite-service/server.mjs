// A small HTTP service on SQLite that migrates at boot. Run it with `npm run example`.
import { mkdirSync } from 'node:fs'
import { createServer } from 'node:http'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { createMigrator } from 'boot-migrate'

const here = dirname(fileURLToPath(import.meta.url))
const file = process.env.SQLITE_FILE ?? join(here, 'data', 'app.db')
const port = Number(process.env.PORT ?? 3000)
const say = (line) => console.log(`[sqlite-service] ${line}`)

// The app's own connection. Counting its statements shows what the boot check costs.
mkdirSync(dirname(file), { recursive: true })
let statements = 0
const db = new Database(file, { verbose: () => void statements++ })
db.pragma('journal_mode = WAL') // readers keep reading while a migration writes
statements = 0

const migrator = createMigrator({ client: db, dir: join(here, 'migrations') })
migrator.start() // in the background: the server listens now and /readyz says when the schema is there

const json = (res, status, body) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}

const server = createServer((req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost')
  const health = migrator.health()
  if (pathname === '/healthz') return json(res, 200, { status: 'alive' })
  if (pathname === '/readyz') return json(res, health.ready ? 200 : 503, { status: health.status, current: health.current, target: health.target })
  if (pathname === '/notes') {
    if (!health.ready) return json(res, 503, { error: 'not ready: the database is being migrated' })
    return json(res, 200, db.prepare('select id, body, created_at from notes order by id').all())
  }
  json(res, 404, { error: 'not found', routes: ['/healthz', '/readyz', '/notes'] })
})

server.on('error', (e) => {
  say(e.code === 'EADDRINUSE' ? `port ${port} is in use: run with PORT=<another port>, or PORT=0 for any free one` : `cannot listen: ${e.message}`)
  process.exit(1)
})
server.listen(port, '127.0.0.1', () => say(`listening on http://127.0.0.1:${server.address().port} (/healthz, /readyz, /notes)`))

migrator.ready.then(
  (result) => {
    if (result.applied.length) {
      say(`migrations applied: ${result.applied.map((r) => `${r.id}_${r.name} (${r.durationMs} ms)`).join(', ')}`)
      say(`they ran on a migration connection of their own, under the lock file ${file}.lock`)
    } else say(`nothing to migrate: the boot check ran ${statements} ${statements === 1 ? 'query' : 'queries'} on the app's connection and took no lock`)
    say(`ready at revision ${result.current}: try http://127.0.0.1:${server.address().port}/notes`)
  },
  (error) => {
    say(`migration failed (${error.code}): ${error.message}`)
    say('the server keeps running so /readyz reports it; fix the revision and restart')
  },
)

// Stops between revisions (a SQLite statement runs to its end), frees the lock, then closes the app's connection.
const stop = async (signal) => {
  say(`${signal}: shutting down`)
  server.close()
  server.closeAllConnections()
  await migrator.stop()
  db.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
