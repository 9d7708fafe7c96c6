import { readFileSync, existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { init, newRevision } from './cli-files.js'
import { MigrationError, isMigrationError, messageOf } from './errors.js'
import { createMigrator } from './migrator.js'
import { withScratchDatabase } from './scratch.js'
import { roundTrip } from './testing.js'
import type { MigrateOptions, StatusReport } from './types.js'

const HELP: Record<string, string> = {
  '': `boot-migrate: database migrations for the boot path

Usage: boot-migrate <command> [options]

Commands:
  init                          create the migrations folder and a first revision
  new <name> [--js]             add a revision with the next id (SQL, or a JS module with --js)
  up [--to ID]                  apply pending revisions (same lock and transactions as the library)
  down [--to ID | --steps N]    revert the newest revisions (default one); --to base reverts all
  status                        every revision: applied or pending, when, how long, by whom
  history                       applied revisions, newest first
  current                       the newest applied revision
  heads                         the newest revision this code ships
  check [--round-trip]          CI: parse every file, ids, checksums and order (against --url if given);
                                --round-trip: up/down/up each revision on a scratch database
  stamp <ID>                    record revisions up to ID as applied without running them
  resolve <ID> --applied|--rolled-back
                                clear a dirty revision after a human has looked
  sql [--from ID] [--to ID]     print the SQL up would run, history writes included (--from: offline)
  wait [--timeout MS]           block until another process has brought the database to the target

Options (flags > environment > config file):
  --url URL          database URL                      $DATABASE_URL
  --dir DIR          folder of revisions               $BOOT_MIGRATE_DIR (default ./migrations)
  --table NAME       history table                     $BOOT_MIGRATE_TABLE (default boot_migrate_history)
  --schema NAME      schema of the history table       $BOOT_MIGRATE_SCHEMA (default public)
  --config FILE      JSON file with any of the options above and the library's (default ./boot-migrate.json if present)
  --dialect NAME     postgres (default) or sqlite: SQL rules for heads/check without --url
  --json             print data as JSON on stdout (logs off)
  -h, --help         help for a command

Exit codes: 0 success; 1 a migration error or a failed check (the message and its code say which);
2 bad usage.`,
}

const OPTIONS = {
  url: { type: 'string' },
  dir: { type: 'string' },
  table: { type: 'string' },
  schema: { type: 'string' },
  config: { type: 'string' },
  to: { type: 'string' },
  from: { type: 'string' },
  steps: { type: 'string' },
  timeout: { type: 'string' },
  applied: { type: 'boolean' },
  'rolled-back': { type: 'boolean' },
  'round-trip': { type: 'boolean' },
  js: { type: 'boolean' },
  dialect: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

class Usage extends Error {}

const tty = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s)
const [green, yellow, red, dim] = [paint(32), paint(33), paint(31), paint(2)]

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.replace(/\x1b\[\d+m/g, '').length)))
  return rows.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - c.replace(/\x1b\[\d+m/g, '').length)).join('  ').trimEnd()).join('\n')
}

function statusText(s: StatusReport): string {
  const state = (x: StatusReport['revisions'][number]) =>
    x.state === 'applied' ? (x.checksumMismatch ? red('edited!') : green('applied')) : x.state === 'running' ? red('dirty') : x.outOfOrder ? yellow('out-of-order') : yellow('pending')
  const rows = [
    ['id', 'name', 'state', 'applied at', 'ms', 'applied by'],
    ...s.revisions.map((x) => [x.id, x.source ? x.name : `${x.name} ${dim('(not in this code)')}`, state(x), x.appliedAt ?? '', x.durationMs?.toString() ?? '', x.appliedBy ?? '']),
  ]
  return `${table(rows)}\n\ncurrent ${s.current ?? 'none'}, head ${s.head ?? 'none'}, ${s.pending.length} pending${s.dirty.length ? red(`, dirty: ${s.dirty.join(', ')}`) : ''}`
}

function options(values: Record<string, unknown>): MigrateOptions {
  const file = (values.config as string | undefined) ?? (existsSync('boot-migrate.json') ? 'boot-migrate.json' : undefined)
  let config: MigrateOptions = {}
  if (file) {
    try {
      config = JSON.parse(readFileSync(file, 'utf8')) as MigrateOptions
    } catch (e) {
      throw new Usage(`Cannot read the config file ${file}: ${messageOf(e)}`)
    }
  }
  const env = process.env
  const pick = (flag: string, envName: string, key: keyof MigrateOptions) => (values[flag] as string | undefined) ?? env[envName] ?? (config[key] as string | undefined)
  const url = pick('url', 'DATABASE_URL', 'url')
  const merged: MigrateOptions = { ...config, dir: pick('dir', 'BOOT_MIGRATE_DIR', 'dir') ?? './migrations' }
  if (url) merged.url = url
  const table = pick('table', 'BOOT_MIGRATE_TABLE', 'table')
  const schema = pick('schema', 'BOOT_MIGRATE_SCHEMA', 'schema')
  if (table) merged.table = table
  if (schema) merged.schema = schema
  if (values.json) merged.logger = false
  return merged
}

/** A migrator that only reads the folder: the URL (or --dialect) picks the SQL rules, and no connection is made. */
const offline = (o: MigrateOptions, dialect?: string) =>
  createMigrator({ ...o, url: o.url ?? (dialect === 'sqlite' ? 'sqlite::memory:' : 'postgres://offline@127.0.0.1:1/offline'), logger: false })

const needUrl = (o: MigrateOptions) => {
  if (!o.url) throw new Usage('No database: pass --url, set DATABASE_URL, or put "url" in the config file.')
  return o
}

const number = (v: unknown, flag: string) => {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Usage(`--${flag} takes a number`)
  return n
}

async function main(argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (e) {
    console.error(`${messageOf(e)}\n\n${HELP['']}`)
    return 2
  }
  const { values, positionals } = parsed
  const [command = '', arg] = positionals
  if (values.help || !command) {
    console.log(HELP[''])
    return command || values.help ? 0 : 2
  }
  const json = !!values.json
  const out = (data: unknown, text: () => string) => console.log(json ? JSON.stringify(data, null, 2) : text())
  try {
    const o = options(values)
    const migrator = () => createMigrator(needUrl(o))
    switch (command) {
      case 'init': {
        const file = await init(o.dir!)
        out({ file }, () => `created ${file}`)
        return 0
      }
      case 'new': {
        if (!arg) throw new Usage('Usage: boot-migrate new <name> [--js]')
        const file = await newRevision(o.dir!, arg, !!values.js)
        out({ file }, () => `created ${file}`)
        return 0
      }
      case 'up': {
        const r = await createMigrator({ ...needUrl(o), ...(values.to ? { to: values.to } : {}) }).run()
        out(r, () => (r.applied.length ? `applied ${r.applied.map((a) => `${a.id} (${a.durationMs} ms)`).join(', ')}; at ${r.current}` : `up to date at ${r.current ?? 'an empty history'}`))
        return 0
      }
      case 'down': {
        const steps = number(values.steps, 'steps')
        const r = await migrator().down({ ...(values.to ? { to: values.to } : {}), ...(steps !== undefined ? { steps } : {}) })
        out(r, () => (r.reverted.length ? `reverted ${r.reverted.map((a) => a.id).join(', ')}; at ${r.current ?? 'an empty history'}` : 'nothing to revert'))
        return 0
      }
      case 'status': {
        const s = await migrator().status()
        out(s, () => statusText(s))
        return 0
      }
      case 'history': {
        const s = await migrator().status()
        const applied = s.revisions.filter((x) => x.state !== 'pending').sort((a, b) => (b.appliedAt ?? '').localeCompare(a.appliedAt ?? ''))
        out(applied, () => (applied.length ? table([['id', 'name', 'applied at', 'ms', 'applied by'], ...applied.map((x) => [x.id, x.name, x.appliedAt ?? '', String(x.durationMs ?? ''), x.appliedBy ?? ''])]) : 'no revision applied'))
        return 0
      }
      case 'current': {
        const s = await migrator().status()
        out({ current: s.current }, () => s.current ?? 'none')
        return 0
      }
      case 'heads': {
        const revs = await offline(o, values.dialect).revisions()
        const head = revs[revs.length - 1]?.id
        out({ heads: head ? [head] : [] }, () => head ?? 'none')
        return 0
      }
      case 'check':
        return await check(o, values.dialect, !!values['round-trip'], json)
      case 'stamp': {
        if (!arg) throw new Usage('Usage: boot-migrate stamp <ID>')
        const ids = await migrator().stamp(arg)
        out({ stamped: ids }, () => `recorded ${ids.length ? ids.join(', ') : 'nothing new'} as applied`)
        return 0
      }
      case 'resolve': {
        if (!arg || values.applied === values['rolled-back']) throw new Usage('Usage: boot-migrate resolve <ID> --applied | --rolled-back')
        await migrator().resolve(arg, values.applied ? 'applied' : 'rolled-back')
        out({ resolved: arg }, () => `resolved ${arg}`)
        return 0
      }
      case 'sql': {
        const text = await migrator().script({ ...(values.from ? { from: values.from } : {}), ...(values.to ? { to: values.to } : {}) })
        out({ sql: text }, () => text)
        return 0
      }
      case 'wait': {
        const timeout = number(values.timeout, 'timeout')
        const r = await createMigrator({ ...needUrl(o), mode: 'wait', ...(timeout !== undefined ? { waitTimeout: timeout } : {}) }).run()
        out(r, () => `at ${r.current ?? 'an empty history'}`)
        return 0
      }
      default:
        throw new Usage(`Unknown command "${command}".\n\n${HELP['']}`)
    }
  } catch (e) {
    if (e instanceof Usage) {
      console.error(e.message)
      return 2
    }
    if (json) console.log(JSON.stringify({ error: isMigrationError(e) ? { code: e.code, message: e.message } : { code: 'MIGRATION_FAILED', message: messageOf(e) } }))
    else console.error(red(isMigrationError(e) ? `${e.code}: ${e.message}` : messageOf(e)))
    return 1
  }
}

/** `check`: everything that can be known without changing the database the caller points at. */
async function check(o: MigrateOptions, dialect: string | undefined, withRoundTrip: boolean, json: boolean): Promise<number> {
  const report: { revisions?: number; pending?: string[]; problems: string[]; roundTrip?: string[] } = { problems: [] }
  if (o.url) {
    const s = await createMigrator({ ...o, logger: false }).status()
    report.revisions = s.revisions.filter((x) => x.source).length
    report.pending = s.pending
    for (const x of s.revisions) {
      if (x.checksumMismatch) report.problems.push(`CHECKSUM_MISMATCH: ${x.source} was edited after it was applied`)
      if (x.outOfOrder) report.problems.push(`OUT_OF_ORDER: ${x.source} is pending but sorts before ${s.current}`)
      if (x.state === 'running') report.problems.push(`DIRTY: ${x.id} was interrupted; resolve it`)
    }
  } else {
    report.revisions = (await offline(o, dialect).revisions()).length
  }
  if (withRoundTrip) {
    if (!o.url) throw new Usage('check --round-trip needs --url: a scratch database is created next to it and dropped afterwards.')
    report.roundTrip = (await withScratchDatabase(o.url, (url) => roundTrip({ ...o, url }))).checked
  }
  console.log(
    json
      ? JSON.stringify(report, null, 2)
      : [
          `${report.revisions ?? 0} revision(s) parsed`,
          ...(report.pending ? [`${report.pending.length} pending`] : []),
          ...(report.roundTrip ? [`round trip (up, down, up) passed for ${report.roundTrip.length} revision(s)`] : []),
          ...report.problems.map(red),
        ].join('\n'),
  )
  return report.problems.length ? 1 : 0
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e instanceof MigrationError ? `${e.code}: ${e.message}` : e)
    process.exitCode = 1
  },
)
