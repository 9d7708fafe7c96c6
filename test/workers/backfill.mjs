// A process that migrates like test/workers/migrate.mjs and prints each batch:progress event as `BATCH {json}`.
// BM_STOP_AT_BATCH=n: after printing batch n it stops itself with SIGSTOP, between two batches (the event comes after a
// batch's COMMIT and before the next one begins), so the test decides when it goes on (SIGCONT): an order, not a timing.
import { createMigrator } from 'boot-migrate'

const options = JSON.parse(process.env.BM_OPTIONS)
const stopAt = Number(process.env.BM_STOP_AT_BATCH ?? 0)
const line = (level) => (...args) => console.log(`${level} ${args.map(String).join(' ')}`)
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: () => {} }
try {
  const m = createMigrator(options)
  m.on('batch:progress', (e) => {
    console.log('BATCH ' + JSON.stringify(e))
    if (e.batches === stopAt) process.kill(process.pid, 'SIGSTOP')
  })
  const result = await m.run()
  console.log('RESULT ' + JSON.stringify(result))
} catch (e) {
  console.log('ERROR ' + JSON.stringify({ code: e.code, message: e.message }))
  process.exitCode = 1
}
