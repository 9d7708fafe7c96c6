import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import type { Dialects } from './dialects/open.js'
import { createMigratorWith } from './migrator.js'
import { optionsProblem } from './options.js'
import type { MigrateOptions, MigrateResult } from './types.js'

type Runs = Map<string, Promise<MigrateResult>>

let next = 0
const ids = new WeakMap<object, number>()
const idOf = (o: object) => ids.get(o) ?? (ids.set(o, ++next), next)

/** Runs with an app's `client` or `db`: forgotten together with that client. */
const byClient = new WeakMap<object, Runs>()
/** Runs from a URL. A process uses a handful; past this many, the oldest is forgotten (its next call costs one query). */
const byUrl: Runs = new Map()
const MAX_URL_RUNS = 64

/**
 * A revision entry's content: its fields compared by identity (a string's content, a function's identity), so
 * an entry edited in place, or replaced, counts as new without hashing its SQL on every call.
 */
const entries = new WeakMap<object, { fields: unknown[]; key: number }>()
function entryKey(m: unknown): string {
  if (!m || typeof m !== 'object') return `v${String(m)}`
  const r = m as Record<string, unknown>
  const fields = [r.id, r.name, r.up, r.down, r.transaction, r.checksum, r.phase, r.statementTimeout]
  const hit = entries.get(m)
  if (hit && hit.fields.length === fields.length && hit.fields.every((f, i) => f === fields[i])) return `e${hit.key}`
  const key = ++next
  entries.set(m, { fields, key })
  return `e${key}`
}

/** The key a `migrations` array had at its last run: when it changed, the array was edited in place. */
const arrayKeys = new WeakMap<object, string>()

/**
 * Everything that decides what a run does: every option but `logger`, `signal` and `telemetry` (providers are
 * objects that do not serialise, and where a run reports changes nothing it does) (and the client, which picks the
 * map). Hashed, so the map holds no URL or password.
 */
function keyOf(o: MigrateOptions): { key: string; revisions: string | undefined } {
  const { logger: _logger, signal: _signal, telemetry: _telemetry, client: _client, db, migrations, dir, drizzle, replicas, ...rest } = o
  const revisions = migrations ? `[${migrations.length}:${migrations.map(entryKey).join(',')}]` : undefined
  const plain = Object.keys(rest)
    .sort()
    .map((k) => [k, rest[k as keyof typeof rest]])
    .filter(([, v]) => v !== undefined)
  const parts = [
    db !== null && typeof db === 'object' ? `d${idOf(db)}` : undefined,
    revisions ?? resolve(dir ?? './migrations'),
    drizzle && [drizzle.table, drizzle.schema, drizzle.keepHistory],
    // A replica client by identity (JSON would write every function as null).
    replicas?.map((r) => (typeof r === 'string' ? r : `c${idOf(r)}`)),
    plain,
  ]
  return { key: createHash('sha256').update(JSON.stringify(parts)).digest('base64'), revisions }
}

/** `migrate` of an entry point, with the dialects it carries: documented on index.ts's `migrate`. */
export function migrateWith(dialects: Dialects, options: MigrateOptions): Promise<MigrateResult> {
  if (optionsProblem(options)) return createMigratorWith(dialects, options).run()
  const owner = options.client ?? options.db
  let runs: Runs = byUrl
  if (owner !== null && (typeof owner === 'object' || typeof owner === 'function')) {
    runs = byClient.get(owner) ?? new Map()
    byClient.set(owner, runs)
  }
  const { key: optionsKey, revisions } = keyOf(options)
  // Per entry point: boot-migrate/postgres given SQLite options fails, whatever boot-migrate did with them.
  const key = `${dialects.entry} ${optionsKey}`
  let run = runs.get(key)
  if (!run) {
    let o = options
    if (options.migrations && revisions !== undefined) {
      // Parsed revisions are cached per array: an array edited in place is handed over as a fresh copy.
      const before = arrayKeys.get(options.migrations)
      if (before !== undefined && before !== revisions) o = { ...options, migrations: [...options.migrations] }
      arrayKeys.set(options.migrations, revisions)
    }
    run = createMigratorWith(dialects, o).run()
    runs.set(key, run)
    if (runs === byUrl && byUrl.size > MAX_URL_RUNS) byUrl.delete(byUrl.keys().next().value!)
    const mine = run
    run.catch(() => runs.get(key) === mine && runs.delete(key))
  }
  return run
}
