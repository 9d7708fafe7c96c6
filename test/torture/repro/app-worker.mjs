// Like ../worker.mjs, but the event loop stays alive as in an app with a server: prints RESULT or ERROR when run()
// settles, or ERROR {code: 'HUNG'} with health() if it is still pending after 15 s.
import { pathToFileURL } from 'node:url'
const entry = process.env.BOOT_MIGRATE_ENTRY
const { createMigrator } = await import(entry ? pathToFileURL(entry).href : 'boot-migrate')
const options = JSON.parse(process.env.BM_OPTIONS)
options.logger = false
const migrator = createMigrator(options)
migrator.on('lock:acquired', () => process.stdout.write('LOCKED\n'))
const alive = setInterval(() => {}, 1000)
const t0 = Date.now()
setTimeout(() => {
  process.stdout.write(`PENDING after ${Date.now() - t0} ms; health ${JSON.stringify(migrator.health())}\n`)
  process.stdout.write(`ERROR ${JSON.stringify({ code: 'HUNG', message: 'run() still pending' })}\n`)
  process.exit(3)
}, 15000)
try {
  const r = await migrator.run()
  process.stdout.write(`RESULT ${JSON.stringify({ applied: r.applied.map((a) => a.id) })}\n`)
} catch (e) {
  process.stdout.write(`ERROR ${JSON.stringify({ code: e.code, revision: e.revision, message: e.message })}\n`)
  process.exitCode = 1
}
clearInterval(alive)
process.exit()
