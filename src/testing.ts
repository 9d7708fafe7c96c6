import { ALL_DIALECTS } from './dialects/all.js'
import { openDialect } from './dialects/open.js'
import { MigrationError } from './errors.js'
import { createMigrator } from './index.js'
import { settingsOf } from './options.js'
import type { MigrateOptions } from './types.js'

export interface RoundTripResult {
  /** Revisions that went up, down and up again with matching schemas. */
  checked: string[]
}

async function snapshot(options: MigrateOptions): Promise<string[]> {
  const s = settingsOf(options)
  const dialect = await openDialect(options, { table: s.table, schema: s.schema, instanceId: s.instanceId, ddlLockTimeout: s.ddlLockTimeout, lockStale: s.lockStale, debug: () => undefined }, ALL_DIALECTS)
  try {
    return await dialect.schemaSnapshot()
  } finally {
    await dialect.close()
  }
}

function compare(expected: string[], actual: string[], what: string) {
  const missing = expected.filter((l) => !actual.includes(l))
  const extra = actual.filter((l) => !expected.includes(l))
  if (missing.length || extra.length)
    throw new MigrationError(
      'ROUND_TRIP_MISMATCH',
      [what, ...extra.map((l) => `  left behind: ${l}`), ...missing.map((l) => `  missing:     ${l}`)].join('\n'),
    )
}

/**
 * The stairway test, for your own suite: on an empty scratch database, each revision in order is
 * applied, reverted and applied again, and the schema after its down must equal the schema before
 * its up (tables, columns, types, defaults, indexes, constraints …). A down script that forgets an
 * index fails here with a diff naming it, not in production.
 *
 * ```ts
 * import { roundTrip } from 'boot-migrate/testing'
 * test('migrations round-trip', () => roundTrip({ url: process.env.SCRATCH_DATABASE_URL, dir: './migrations' }))
 * ```
 */
export async function roundTrip(options: MigrateOptions): Promise<RoundTripResult> {
  const base: MigrateOptions = { logger: false, ...options }
  const status = await createMigrator(base).status()
  if (status.current !== null)
    throw new MigrationError('INVALID_OPTIONS', `roundTrip() needs an empty database: this one is at ${status.current}. Point it at a scratch database.`)
  const checked: string[] = []
  for (const { id, name } of status.revisions) {
    const label = `${id}_${name}`
    const before = await snapshot(base)
    await createMigrator({ ...base, to: id }).run()
    const after = await snapshot(base)
    await createMigrator(base).down({ steps: 1 })
    compare(before, await snapshot(base), `The down script of ${label} does not restore the schema it started from:`)
    await createMigrator({ ...base, to: id }).run()
    compare(after, await snapshot(base), `Applying ${label} again after its down gives a different schema than the first time:`)
    checked.push(id)
  }
  return { checked }
}

export type { MigrateOptions } from './types.js'
