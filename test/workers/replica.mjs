// A replica as users deploy it: listens at once, migrates in the background, /readyz gates traffic.
import { createServer } from 'node:http'
import { createMigrator } from 'boot-migrate'

const options = JSON.parse(process.env.BM_OPTIONS)
const line = (level) => (...args) => console.log(`${level} ${args.map(String).join(' ')}`)
options.logger = { info: line('info'), warn: line('warn'), error: line('error'), debug: () => {} }
const migrator = createMigrator(options)
const readyz = migrator.readiness()
const server = createServer((req, res) => {
  if (req.url === '/readyz') return readyz(req, res)
  if (req.url === '/healthz') return res.end('ok')
  res.statusCode = 404
  res.end()
})
server.listen(0, '127.0.0.1', () => {
  console.log(`PORT ${server.address().port}`)
  migrator.start()
})
process.on('SIGTERM', async () => {
  await migrator.stop()
  server.close()
})
