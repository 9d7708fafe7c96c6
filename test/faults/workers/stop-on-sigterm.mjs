// An app that migrates in the background and shuts down on SIGTERM as the README shows:
// `process.on('SIGTERM', () => migrator.stop())`. Imports the built package by its name.
// Prints `STARTED` once the handler is installed, `STOPPED` when stop() resolved, then
// `RESULT {json}` or `ERROR {json}` with the outcome of `ready`; exits on its own (nothing calls exit()).
import { createMigrator } from 'boot-migrate'

const options = JSON.parse(process.env.BM_OPTIONS)
const line = (level) => (...args) => console.log(`${level} ${args.map(String).join(' ')}`)
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: () => {} }

const migrator = createMigrator(options)
process.on('SIGTERM', () => {
  console.log('SIGTERM received: calling stop()')
  migrator.stop().then(
    () => console.log('STOPPED'),
    (e) => console.log(`STOP-REJECTED ${e?.code ?? ''} ${e?.message ?? e}`),
  )
})
migrator.start()
console.log('STARTED')
try {
  const result = await migrator.ready
  console.log('RESULT ' + JSON.stringify(result))
} catch (e) {
  console.log('ERROR ' + JSON.stringify({ code: e.code, message: e.message }))
  process.exitCode = 1
}
