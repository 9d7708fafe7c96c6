import { hostname } from 'node:os'
import { MigrationError } from './errors.js'
import { redactGivenUrl } from './secrets.js'
import { FORMATS } from './tools/index.js'
import type { MigrateOptions } from './types.js'
import { distance } from './distance.js'
import { ACCEPTED_CLIENTS } from './dialects/clients.js'
import { isNodePgClient, isNodePgPool, isPostgresClient, isPostgresJs } from './dialects/pg-driver/shapes.js'

let instance: string | undefined
/** host:pid, computed once: a syscall on every no-op boot is not free. */
const defaultInstance = () => (instance ??= `${hostname()}:${process.pid}`)

export interface Settings {
  table: string
  schema: string
  to: string | undefined
  transaction: 'each' | 'all'
  allowOutOfOrder: boolean
  phase: 'expand' | 'contract'
  contractBlocks: boolean
  lockTimeout: number
  ddlLockTimeout: number
  lockStale: number
  ddlRetries: number
  /** undefined: statements run as long as the database lets them. */
  statementTimeout: number | undefined
  connectTimeout: number
  instanceId: string
  mode: 'migrate' | 'wait'
  waitTimeout: number
  shutdownTimeout: number
  drizzle: { table: string; schema: string; keepHistory: boolean }
  /** undefined: no pooler mode chosen (a host or port that poolers use is warned about). */
  pooler: 'transaction' | 'none' | undefined
  /** undefined: detected from the folder. */
  format: string | undefined
  /** keepHistory is on when either `takeover.keepHistory` or `drizzle.keepHistory` is. */
  takeover: { keepHistory: boolean; strict: boolean }
  /** URLs or postgres.js / node-postgres clients of read replicas; empty when none. */
  replicas: Array<string | object>
  replicaTimeout: number
}

const bad = (why: string): never => {
  throw new MigrationError('INVALID_OPTIONS', why)
}

/** What a wrong value was, for the message: `2.5 (number)`, `"yes" (string)`, `an object`. */
function shown(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  switch (typeof v) {
    case 'string':
      return `${JSON.stringify(redactGivenUrl(v.length > 40 ? `${v.slice(0, 40)}…` : v))} (string)`
    case 'number':
    case 'boolean':
      return `${String(v)} (${typeof v})`
    case 'bigint':
      return `${v}n (bigint)`
    case 'function':
      return 'a function'
    case 'object': {
      const name = (v as object).constructor?.name
      return name && name !== 'Object' ? `a ${name}` : 'an object'
    }
    case 'undefined':
      return 'undefined'
    default:
      return `a ${typeof v}`
  }
}

/** A check returns what the value must be, or undefined when it is fine. `undefined` values are never checked. */
type Check = (v: unknown) => string | undefined

/** setTimeout fires at once for anything longer: a "24-day" timeout would be no timeout at all. */
const MAX_MS = 2 ** 31 - 1
const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_MS
const ms =
  (min = 0, extra = ''): Check =>
  (v) =>
    isMs(v) && v >= min ? undefined : `a number of milliseconds from ${min} to ${MAX_MS}${extra}`
const text =
  (what: string): Check =>
  (v) =>
    typeof v === 'string' && v !== '' && storable(v) ? undefined : what
const oneOf =
  (...values: string[]): Check =>
  (v) =>
    values.includes(v as string) ? undefined : values.map((x) => JSON.stringify(x)).join(' or ')
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false')
/** PostgreSQL keeps 63 bytes of a name and cuts the rest; it cannot store NUL at all (nor can the wire protocol). */
const name: Check = (v) =>
  typeof v === 'string' && v !== '' && Buffer.byteLength(v) <= 63 && storable(v)
    ? undefined
    : 'a name of 1 to 63 bytes without NUL characters'
/** No NUL (PostgreSQL's wire protocol ends strings with it) and no lone UTF-16 surrogate (not UTF-8 at all). */
const storable = (v: string) => !v.includes('\0') && !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v)
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const DRIZZLE: Record<string, Check> = { table: name, schema: name, keepHistory: bool }
const TAKEOVER: Record<string, Check> = { keepHistory: bool, strict: bool }

/** One check per option: a field added to MigrateOptions without one is a type error here. */
const CHECKS: { [K in keyof Required<MigrateOptions>]: Check } = {
  url: text('a database URL string (postgres://…, sqlite:path, file:path or a .db path)'),
  client: (v) => ((typeof v === 'object' && v !== null) || typeof v === 'function' ? undefined : ACCEPTED_CLIENTS),
  db: (v) => (clientOfDb(v) ? undefined : 'a drizzle-orm database made with drizzle(client) (its $client is missing)'),
  drizzle: (v) => (isObject(v) ? undefined : 'an object { table?, schema?, keepHistory? }'),
  format: (v) => (FORMATS.includes(v as string) ? undefined : `one of ${FORMATS.map((f) => JSON.stringify(f)).join(', ')}`),
  takeover: (v) => (isObject(v) ? undefined : 'an object { keepHistory?, strict? }'),
  migrationUrl: text('a database URL string'),
  dir: text('a folder path string'),
  migrations: (v) => (Array.isArray(v) ? undefined : 'an array of revisions ({ id, up, down? })'),
  table: name,
  schema: name,
  to: text('a revision id string'),
  transaction: oneOf('each', 'all'),
  pooler: oneOf('transaction', 'none'),
  allowOutOfOrder: bool,
  phase: oneOf('expand', 'contract'),
  contractBlocks: bool,
  lockTimeout: ms(),
  lockStale: ms(2_000, ': a lock file is refreshed every lockStale/2, at most once a second'),
  ddlLockTimeout: ms(),
  ddlRetries: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? undefined : 'a whole number >= 0'),
  statementTimeout: ms(1),
  mode: oneOf('migrate', 'wait'),
  waitTimeout: ms(),
  shutdownTimeout: ms(),
  connectTimeout: ms(),
  instanceId: text('a non-empty string without NUL characters'),
  replicas: (v) => (Array.isArray(v) ? undefined : REPLICAS),
  replicaTimeout: ms(),
  logger: (v) =>
    v === false || (isObject(v) && ['info', 'warn', 'error'].every((k) => typeof v[k] === 'function'))
      ? undefined
      : 'console, a pino-style logger (an object with info, warn and error functions) or false',
  signal: (v) => (v instanceof AbortSignal ? undefined : 'an AbortSignal'),
  telemetry: (v) =>
    v === false ||
    (isObject(v) &&
      Object.keys(v).every((k) => k === 'tracerProvider' || k === 'meterProvider') &&
      (v.tracerProvider === undefined || typeof (v.tracerProvider as { getTracer?: unknown })?.getTracer === 'function') &&
      (v.meterProvider === undefined || typeof (v.meterProvider as { getMeter?: unknown })?.getMeter === 'function'))
      ? undefined
      : 'false or { tracerProvider?, meterProvider? } (an OpenTelemetry TracerProvider with getTracer, a MeterProvider with getMeter)',
}
const KNOWN = Object.keys(CHECKS)

const REPLICAS = 'an array of PostgreSQL read replicas: postgres:// URLs, postgres.js sql instances or node-postgres (pg) Pools or Clients'

/** What is wrong with the `replicas` option beyond its type: each entry, and a database that has no such replicas. */
function replicasProblems(options: MigrateOptions): string[] {
  const list = options.replicas
  if (!Array.isArray(list)) return []
  const problems: string[] = []
  list.forEach((r, i) => {
    if (typeof r === 'string') {
      if (!isPostgresUrl(r)) problems.push(`"replicas[${i}]" must be a postgres:// URL, got ${storable(r) ? shown(r) : 'a string with a NUL or a lone surrogate'}`)
      else {
        const why = postgresUrlProblem(r)
        if (why) problems.push(`"replicas[${i}]" is not a URL the PostgreSQL driver can read: ${redactGivenUrl(r)}: ${why}`)
      }
    } else if (!(isPostgresJs(r) || isNodePgPool(r) || isNodePgClient(r))) problems.push(`"replicas[${i}]" must be a postgres:// URL, a postgres.js sql instance or a node-postgres (pg) Pool or Client, got ${shown(r)}`)
  })
  // Refused rather than ignored: readiness would claim replicas caught up that nothing asked.
  const client = options.client ?? clientOfDb(options.db)
  const postgres = client !== undefined ? isPostgresClient(client) : typeof options.url === 'string' && isPostgresUrl(options.url)
  if (list.length && !postgres && (client !== undefined || options.url !== undefined))
    problems.push(
      '"replicas" is for PostgreSQL streaming replicas (their replay position is what readiness waits for); this database is not PostgreSQL. ' +
        'SQLite has no read replicas the migrator can ask, and MySQL replicas are not supported yet: remove "replicas"',
    )
  return problems
}


function unknownKey(key: string, known: string[], where: string): string {
  let best: string | undefined
  let bestDistance = Infinity
  for (const k of known) {
    const dist = distance(key, k)
    if (dist < bestDistance) [best, bestDistance] = [k, dist]
  }
  // Two edits, or a third of a long name ("lockTimout", "ddlLockTimeOut", "connectionTimeout"); one for a short one.
  return best && bestDistance <= (key.length <= 4 ? 1 : Math.max(2, Math.floor(key.length / 3)))
    ? `Unknown ${where} "${key}": did you mean "${best}"?`
    : `Unknown ${where} "${key}". Known: ${known.join(', ')}.`
}

const ENCODE = 'percent-encode the characters # ? / @ : % of the user name and password (# as %23, ? as %3F, / as %2F, @ as %40, : as %3A, % as %25)'

/**
 * How postgres.js 3.4 reads a URL (index.js parseUrl): it fails with a TypeError whose `input` is the whole
 * URL, password included. Checked here first, so the error says what to fix and holds no password.
 */
function postgresUrlProblem(url: string): string | undefined {
  try {
    let host = url.slice(url.indexOf('://') + 3).split(/[?/]/)[0]!
    host = decodeURIComponent(host.slice(host.indexOf('@') + 1))
    const parsed = new URL(url.replace(host, host.split(',')[0]!))
    decodeURIComponent(parsed.username)
    decodeURIComponent(parsed.password)
    // postgres.js drops a fragment without a word: `postgres://u:p@ss#word@host` would connect to the host "ss".
    if (parsed.hash || url.includes('#')) return `a raw "#" cuts the URL short (the driver would read a host or port out of the password): ${ENCODE}`
    return undefined
  } catch {
    const port = /:(\d+)(?:[/?]|$)/.exec(url.slice(url.lastIndexOf('@') + 1))?.[1]
    return port !== undefined && Number(port) > 65535
      ? `port ${port} is out of range (0 to 65535)`
      : ENCODE
  }
}

const isPostgresUrl = (u: string) => /^postgres(ql)?:\/\//i.test(u)

/**
 * Every problem with the options, as one INVALID_OPTIONS error (or undefined): types, unknown names, names the
 * database cannot store, URLs the driver cannot read. Never throws; never names a URL's password.
 */
export function optionsProblem(options: MigrateOptions): MigrationError | undefined {
  if (!isObject(options)) return new MigrationError('INVALID_OPTIONS', `migrate() takes an options object { url | client, dir | migrations }, got ${typeof options === 'string' ? 'a string' : shown(options)}.`)
  const problems: string[] = []
  for (const key of Object.keys(options)) {
    const v = (options as Record<string, unknown>)[key]
    if (!Object.hasOwn(CHECKS, key)) problems.push(unknownKey(key, KNOWN, 'option'))
    else if (v !== undefined) {
      const must = CHECKS[key as keyof MigrateOptions](v)
      // A URL's value is never shown: it is a string when it fails, and may hold a password.
      if (must) problems.push(`"${key}" must be ${must}, got ${key === 'url' || key === 'migrationUrl' ? typeof v === 'string' ? (v ? 'a string with a NUL or a lone surrogate' : 'an empty string') : shown(v) : shown(v)}`)
    }
  }
  for (const [group, checks] of [['drizzle', DRIZZLE], ['takeover', TAKEOVER]] as const) {
    const given = options[group]
    if (isObject(given))
      for (const [key, v] of Object.entries(given)) {
        if (!Object.hasOwn(checks, key)) problems.push(unknownKey(key, Object.keys(checks), `${group} option`))
        else if (v !== undefined) {
          const must = checks[key]!(v)
          if (must) problems.push(`"${group}.${key}" must be ${must}, got ${shown(v)}`)
        }
      }
  }
  problems.push(...replicasProblems(options))
  for (const key of ['url', 'migrationUrl'] as const) {
    const u = options[key]
    const why = typeof u === 'string' && isPostgresUrl(u) ? postgresUrlProblem(u) : undefined
    if (why) problems.push(`"${key}" is not a URL the PostgreSQL driver can read: ${redactGivenUrl(u as string)}: ${why}`)
  }
  if (!problems.length) {
    if ([options.url, options.client, options.db].filter((x) => x !== undefined).length !== 1) problems.push('Pass exactly one of "url", "client" or "db".')
    if (options.dir !== undefined && options.migrations !== undefined) problems.push('Pass "dir" or "migrations", not both.')
  }
  return problems.length ? new MigrationError('INVALID_OPTIONS', problems.join('; ') + (problems.length > 1 || !/[.?]$/.test(problems[0]!) ? '.' : '')) : undefined
}

/** Checks options and fills in defaults; throws INVALID_OPTIONS with what to change. */
export function settingsOf(options: MigrateOptions): Settings {
  const problem = optionsProblem(options)
  if (problem) throw problem
  return {
    table: options.table ?? 'boot_migrate_history',
    schema: options.schema ?? 'public',
    to: options.to,
    transaction: options.transaction ?? 'each',
    allowOutOfOrder: options.allowOutOfOrder === true,
    phase: options.phase ?? 'expand',
    contractBlocks: options.contractBlocks === true,
    lockTimeout: options.lockTimeout ?? 300_000,
    ddlLockTimeout: options.ddlLockTimeout ?? 3_000,
    lockStale: options.lockStale ?? 10_000,
    ddlRetries: options.ddlRetries ?? 10,
    statementTimeout: options.statementTimeout,
    connectTimeout: options.connectTimeout ?? 30_000,
    instanceId: options.instanceId ?? defaultInstance(),
    mode: options.mode ?? 'migrate',
    waitTimeout: options.waitTimeout ?? 300_000,
    shutdownTimeout: options.shutdownTimeout ?? 10_000,
    drizzle: {
      table: options.drizzle?.table ?? '__drizzle_migrations',
      schema: options.drizzle?.schema ?? 'drizzle',
      keepHistory: options.drizzle?.keepHistory === true,
    },
    format: options.format,
    pooler: options.pooler,
    takeover: {
      keepHistory: options.takeover?.keepHistory === true || options.drizzle?.keepHistory === true,
      strict: options.takeover?.strict === true,
    },
    replicas: options.replicas ?? [],
    replicaTimeout: options.replicaTimeout ?? 120_000,
  }
}

/** The driver client inside a drizzle-orm database object. */
export const clientOfDb = (db: unknown): unknown => (db && typeof db === 'object' ? (db as { $client?: unknown }).$client : undefined)

/** The drizzle schema a `db` was made with, so function revisions get a `db` that knows it. */
export const schemaOfDb = (db: unknown): Record<string, unknown> | undefined =>
  (db as { _?: { fullSchema?: Record<string, unknown> } } | undefined)?._?.fullSchema
