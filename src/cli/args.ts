import { existsSync, readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { messageOf } from '../errors.js'
import { DURATION_FORMS, parseDuration } from '../revisions/duration.js'
import type { MigrateOptions } from '../types.js'
import { COMMANDS, didYouMean } from './help.js'

export const OPTIONS = {
  url: { type: 'string' },
  dir: { type: 'string' },
  table: { type: 'string' },
  schema: { type: 'string' },
  config: { type: 'string' },
  'connect-timeout': { type: 'string' },
  pooler: { type: 'string' },
  to: { type: 'string' },
  from: { type: 'string' },
  steps: { type: 'string' },
  timeout: { type: 'string' },
  applied: { type: 'boolean' },
  'rolled-back': { type: 'boolean' },
  resume: { type: 'boolean' },
  'round-trip': { type: 'boolean' },
  'exit-code': { type: 'boolean' },
  contract: { type: 'boolean' },
  'contract-blocks': { type: 'boolean' },
  replicas: { type: 'string' },
  'replica-timeout': { type: 'string' },
  'statement-timeout': { type: 'string' },
  'warn-only': { type: 'boolean' },
  'server-version': { type: 'string' },
  js: { type: 'boolean' },
  dialect: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const

const COMMON = new Set(['url', 'dir', 'table', 'schema', 'config', 'connect-timeout', 'pooler', 'json', 'help', 'version'])

/** Bad usage: exit 2, with what to type instead. */
export class Usage extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message)
  }
}

/** The CLI gives up on a database that does not answer sooner than a server at boot (30 s): a person is waiting. */
export const CLI_CONNECT_TIMEOUT = 10_000

export interface Parsed {
  command: string
  arg: string | undefined
  values: Record<string, string | boolean | undefined>
  json: boolean
}

export function parse(argv: string[]): Parsed {
  // --json is honoured by usage errors too, even when the rest of the line does not parse.
  const json = argv.includes('--json')
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (e) {
    const command = argv.find((a) => !a.startsWith('-'))
    const unknown = /^Unknown option '([^']+)'/.exec(messageOf(e))?.[1]
    const why = unknown ? `Unknown option ${unknown}` : messageOf(e).replace(/\.$/, '')
    throw new Usage(`${why}. See boot-migrate ${command && COMMANDS[command] ? `${command} ` : ''}--help.`)
  }
  const { values, positionals } = parsed
  const [command = '', arg, ...rest] = positionals
  // `boot-migrate help [command]` is `boot-migrate [command] --help`.
  if (command === 'help') return { command: arg && COMMANDS[arg] ? arg : '', arg: undefined, values: { ...values, help: true }, json }
  const result: Parsed = { command, arg, values, json }
  if (!command || values.help || values.version) return result
  const c = COMMANDS[command]
  if (!c) {
    const near = didYouMean(command)
    throw new Usage(`Unknown command "${command}".${near ? ` Did you mean "${near}"?` : ''} Run boot-migrate --help for the list.`)
  }
  if (rest.length || (arg !== undefined && !/^</.test(c.args))) throw new Usage(`Unexpected argument "${rest[0] ?? arg}". Usage: boot-migrate ${command} ${c.args}`.trimEnd(), command)
  for (const flag of Object.keys(values))
    if (!COMMON.has(flag) && !c.accepts.includes(flag)) throw new Usage(`"${command}" takes no --${flag}. See boot-migrate ${command} --help.`, command)
  return result
}

export const number = (v: unknown, flag: string) => {
  if (v === undefined) return undefined
  const n = Number(v)
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Usage(`--${flag} takes a number, not "${String(v)}"`)
  return n
}

/** `--statement-timeout`: a duration as the directive takes it (`30s`, `5min`) or milliseconds. */
export const duration = (v: unknown, flag: string) => {
  if (v === undefined) return undefined
  const ms = typeof v === 'string' ? parseDuration(v) : undefined
  if (ms === undefined) throw new Usage(`--${flag} takes ${DURATION_FORMS}; not "${String(v)}"`)
  return ms
}

/** `up` and `wait`: the read replicas readiness waits for (comma-separated URLs), and the per-revision statement timeout. */
export function deployOptions(values: Parsed['values']): Partial<MigrateOptions> {
  const list = (values.replicas as string | undefined) ?? process.env.BOOT_MIGRATE_REPLICAS
  const replicas = list?.split(',').map((u) => u.trim()).filter(Boolean)
  const replicaTimeout = number(values['replica-timeout'], 'replica-timeout')
  return {
    ...(replicas?.length ? { replicas } : {}),
    ...(replicaTimeout !== undefined ? { replicaTimeout } : {}),
    ...timeoutOption(values),
  }
}

/** `--statement-timeout`, for `up` and `wait` and for `sql`, which prints the timeout as `up` sets it. */
export function timeoutOption(values: Parsed['values']): Partial<MigrateOptions> {
  const statementTimeout = duration(values['statement-timeout'], 'statement-timeout')
  return statementTimeout !== undefined ? { statementTimeout } : {}
}

/** Flags over the environment over the config file. */
export function options(values: Parsed['values']): MigrateOptions {
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
  // Checked with the other options: a wrong value is INVALID_OPTIONS, as in the library.
  const pooler = pick('pooler', 'BOOT_MIGRATE_POOLER', 'pooler')
  if (pooler) merged.pooler = pooler as MigrateOptions['pooler']
  if (table) merged.table = table
  if (schema) merged.schema = schema
  merged.connectTimeout = number(values['connect-timeout'], 'connect-timeout') ?? config.connectTimeout ?? CLI_CONNECT_TIMEOUT
  return merged
}

export const needUrl = (o: MigrateOptions) => {
  if (!o.url) throw new Usage('No database: pass --url, set DATABASE_URL, or put "url" in the config file.')
  return o
}
