import { resolve } from 'node:path'
import { createMigrator } from './migrator.js'
import type { MigrateOptions, MigrateResult } from './types.js'

const ids = new WeakMap<object, number>()
let next = 0
const idOf = (o: object) => ids.get(o) ?? (ids.set(o, ++next), next)
const runs = new Map<string, Promise<MigrateResult>>()

/** Same database, same revisions, same table and target: same run. */
function keyOf(o: MigrateOptions): string {
  return JSON.stringify([
    o.client !== null && (typeof o.client === 'object' || typeof o.client === 'function') ? `c${idOf(o.client)}` : o.url,
    o.db !== null && typeof o.db === 'object' ? `d${idOf(o.db)}` : undefined,
    o.mode,
    o.migrationUrl,
    o.migrations ? `m${idOf(o.migrations)}` : resolve(o.dir ?? './migrations'),
    o.schema,
    o.table,
    o.to,
  ])
}

/**
 * Brings the database to the target, once per process: concurrent calls share one run and later
 * calls get its result without a query (serverless handlers can call it on every request).
 * A failed run is forgotten, so the next call tries again. Use `createMigrator(o).run()` to run unconditionally.
 */
export function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const key = keyOf(options ?? {})
  let run = runs.get(key)
  if (!run) {
    run = createMigrator(options).run()
    runs.set(key, run)
    run.catch(() => runs.delete(key))
  }
  return run
}
