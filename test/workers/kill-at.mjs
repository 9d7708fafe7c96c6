// A process that migrates like test/workers/migrate.mjs, and kills itself (SIGKILL, as kill -9 would) the moment
// the migrator logs a line containing BM_KILL_AT: e.g. "0002_five: statement 3/5", logged once statement 2's
// progress is recorded and before statement 3 is sent. A deterministic point, with no timing involved.
import { createMigrator } from 'boot-migrate'

const options = JSON.parse(process.env.BM_OPTIONS)
const killAt = process.env.BM_KILL_AT
const line =
  (level) =>
  (...args) => {
    const text = args.map(String).join(' ')
    console.log(`${level} ${text}`)
    if (killAt && text.includes(killAt)) process.kill(process.pid, 'SIGKILL')
  }
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: line('debug') }
try {
  // BM_DOWN: `down(options)` instead of `run()`.
  const m = createMigrator(options)
  const result = process.env.BM_DOWN ? await m.down(JSON.parse(process.env.BM_DOWN)) : await m.run()
  console.log('RESULT ' + JSON.stringify(result))
} catch (e) {
  console.log('ERROR ' + JSON.stringify({ code: e.code, message: e.message }))
  process.exitCode = 1
}
