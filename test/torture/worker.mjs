// A migrating process of the crash-torture suite: imports the BUILT package by its name, as an app does
// (or the snapshot of dist/ named by BOOT_MIGRATE_ENTRY, so that a rebuild during a long run changes nothing).
// Options come as JSON in BM_OPTIONS; prints `LOCKED` once it holds the migration lock, `START <id>` when a
// revision begins, then one
// `RESULT {json}` or `ERROR {json}` line. On SIGTERM it does what an app shutting down does, as the README
// shows: `migrator.stop()` (printing `SIGTERM`), then exits on its own once the run has settled.
import { pathToFileURL } from 'node:url'

const entry = process.env.BOOT_MIGRATE_ENTRY
const { createMigrator } = await import(entry ? pathToFileURL(entry).href : 'boot-migrate')

const options = JSON.parse(process.env.BM_OPTIONS)
options.logger = false
const migrator = createMigrator(options)
migrator.on('lock:acquired', () => process.stdout.write('LOCKED\n'))
migrator.on('migration:start', ({ id }) => process.stdout.write(`START ${id}\n`))
process.on('SIGTERM', () => {
  process.stdout.write('SIGTERM\n')
  void migrator.stop()
})
try {
  const result = await migrator.run()
  process.stdout.write(`RESULT ${JSON.stringify({ applied: result.applied.map((a) => a.id), current: result.current })}\n`)
} catch (e) {
  process.stdout.write(`ERROR ${JSON.stringify({ code: e.code, revision: e.revision, message: e.message })}\n`)
  process.exitCode = 1
}
