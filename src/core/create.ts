import { adoptDrizzle } from '../adopt.js'
import type { Dialect } from '../dialects/dialect.js'
import type { Log } from '../log.js'
import type { Settings } from '../options.js'
import type { HistoryRow } from '../plan.js'
import { label, type Revision } from '../revisions/revision.js'
import type { Connection } from './connection.js'
import { drizzleRecord, readDrizzleRows } from './drizzle-history.js'
import { readRows, rowValues } from './history.js'

/**
 * The history under the lock. On the first run the table is created, and drizzle's history adopted, in one
 * transaction: a refused takeover leaves the database as it was, so the next boot decides afresh.
 */
export async function historyUnderLock(conn: Connection, dialect: Dialect, settings: Settings, revisions: Revision[], log: Log): Promise<HistoryRow[]> {
  const rows = await readRows(conn, dialect)
  const keep = settings.drizzle.keepHistory && dialect.drizzle
  if (rows && !keep) return rows
  // Read before the transaction: on PostgreSQL a failed read (no such table) would abort it.
  const drizzleRows = !rows && dialect.drizzle && revisions.some((x) => x.drizzle) ? await readDrizzleRows(conn, dialect.drizzle, dialect.classify) : null
  const adopted = drizzleRows?.length ? adoptDrizzle(drizzleRows, revisions) : []
  await record(conn, dialect, settings, adopted, true)
  if (adopted.length) log.info(`took over drizzle's history: ${adopted.map(label).join(', ')} recorded as applied without running them`)
  return rows ?? adopted.map((x) => ({ id: x.id, checksum: x.checksum, state: 'applied' }))
}

/** Records revisions as applied without running them (adoption, stamp), creating the tables first, in one transaction. */
export async function record(conn: Connection, dialect: Dialect, settings: Settings, revisions: Revision[], create: boolean) {
  const keep = settings.drizzle.keepHistory ? dialect.drizzle : undefined
  await conn.transaction(
    async (tx) => {
      if (create) await tx.batch([...dialect.history.create, ...(keep?.create ?? [])])
      for (const rev of revisions) {
        await tx.query(dialect.history.insert, rowValues(rev, 'applied', settings.instanceId, null))
        const dz = keep && drizzleRecord(keep, rev, 'up')
        if (dz) await tx.query(dz[0], dz[1])
      }
    },
    { lockTimeout: settings.ddlLockTimeout, statements: [] },
  )
}
