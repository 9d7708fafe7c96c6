import { parseArgs } from 'node:util'
import { isMigrationError } from './errors.js'
import { createMigrator } from './migrator.js'

const HELP = `boot-migrate: database migrations for the boot path

Usage:
  boot-migrate up [--url URL] [--dir DIR] [--to ID] [--table NAME] [--schema NAME] [--json]
  boot-migrate wait [--timeout MS]                      block until another process has brought the database to the target
  boot-migrate resolve ID --applied | --rolled-back     clear a dirty revision after inspecting it

  --url     database URL (default: $DATABASE_URL)
  --dir     folder of revisions (default: $BOOT_MIGRATE_DIR or ./migrations)
  --to      highest revision id to apply
  --json    print the result as JSON

Exit codes: 0 done (at the target), 1 migration error (the message says which), 2 bad usage.`

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      dir: { type: 'string' },
      to: { type: 'string' },
      table: { type: 'string' },
      schema: { type: 'string' },
      json: { type: 'boolean' },
      timeout: { type: 'string' },
      applied: { type: 'boolean' },
      'rolled-back': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command] = positionals
  if (values.help || !command) {
    console.log(HELP)
    return command || values.help ? 0 : 2
  }
  if (command !== 'up' && command !== 'resolve' && command !== 'wait') {
    console.error(`Unknown command "${command}".\n\n${HELP}`)
    return 2
  }
  const url = values.url ?? process.env.DATABASE_URL
  if (!url) {
    console.error('No database: pass --url or set DATABASE_URL.')
    return 2
  }
  const resolveId = positionals[1]
  if (command === 'resolve' && (!resolveId || values.applied === values['rolled-back'])) {
    console.error('Usage: boot-migrate resolve ID --applied | --rolled-back')
    return 2
  }
  try {
    const migrator = createMigrator({
      url,
      dir: values.dir ?? process.env.BOOT_MIGRATE_DIR ?? './migrations',
      ...(values.to ? { to: values.to } : {}),
      ...(values.table ? { table: values.table } : {}),
      ...(values.schema ? { schema: values.schema } : {}),
      ...(values.json ? { logger: false as const } : {}),
      ...(command === 'wait' ? { mode: 'wait' as const, waitTimeout: Number(values.timeout ?? 300_000) } : {}),
    })
    if (command === 'resolve') {
      await migrator.resolve(resolveId!, values.applied ? 'applied' : 'rolled-back')
      return 0
    }
    const result = await migrator.run()
    if (values.json) console.log(JSON.stringify(result))
    return 0
  } catch (e) {
    if (values.json && isMigrationError(e)) console.log(JSON.stringify({ error: { code: e.code, message: e.message } }))
    return 1
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e)
    process.exitCode = 2
  },
)
