// A process that migrates like an app on libSQL at boot: its own @libsql/client Client on a local file, handed to migrate().
import { createClient } from '@libsql/client'
import { createMigrator } from 'boot-migrate'

const { libsqlUrl, ...options } = JSON.parse(process.env.BM_OPTIONS)
const client = createClient({ url: libsqlUrl })
const line = (level) => (...args) => console.log(`${level} ${args.map(String).join(' ')}`)
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: () => {} }
try {
  const result = await createMigrator({ ...options, client }).run()
  console.log('RESULT ' + JSON.stringify(result))
} catch (e) {
  console.log('ERROR ' + JSON.stringify({ code: e.code, message: e.message }))
  process.exitCode = 1
} finally {
  client.close()
}
