// A process that migrates like an app at boot: imports the built package by its name.
import { createMigrator } from 'boot-migrate'

const options = JSON.parse(process.env.BM_OPTIONS)
const line = (level) => (...args) => console.log(`${level} ${args.map(String).join(' ')}`)
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: () => {} }
try {
  const result = await createMigrator(options).run()
  console.log('RESULT ' + JSON.stringify(result))
} catch (e) {
  console.log('ERROR ' + JSON.stringify({ code: e.code, message: e.message }))
  process.exitCode = 1
}
