import type { Dialect } from '../dialects/dialect.js'
import type { Log } from '../log.js'
import type { Settings } from '../options.js'
import type { HistoryRow } from '../plan.js'
import { label, type Revision } from '../revisions/revision.js'
import { adoptionMismatch, type Edited } from '../tools/tool.js'
import type { Connection } from './connection.js'
import { readRows, rowValues } from './history.js'
import { foreignHistory, keepCreate, keepRecord } from './takeover.js'

export interface Takeover {
  rows: HistoryRow[]
  /** Revisions adopted although changed after the old tool applied them (each a warning). */
  warnings: string[]
}

/**
 * The history under the lock. On the first run our table is created and the old tool's history adopted in one
 * transaction: a refused takeover (its history does not match the folder) leaves the database as it was, so
 * the next boot decides afresh; and once our table exists, the old tool's history is never read again.
 */
export async function historyUnderLock(conn: Connection, dialect: Dialect, settings: Settings, revisions: Revision[], log: Log): Promise<Takeover> {
  const rows = await readRows(conn, dialect)
  const keep = keepCreate(dialect, settings, revisions).length > 0
  if (rows && !keep) return { rows, warnings: [] }
  const foreign = rows ? undefined : foreignHistory(dialect, settings, revisions)
  // Read before the transaction: on PostgreSQL a failed read (no such table) would abort it.
  const theirs = foreign ? await foreign.history.read(conn, foreign.at, (e) => dialect.classify(e) === 'missing-table') : null
  const { adopted, edited } = foreign && theirs?.length ? foreign.history.adopt(theirs, revisions, foreign.at) : { adopted: [], edited: [] as Edited[] }
  const tool = foreign?.tool.name ?? ''
  const warnings = edited.map(
    (e) =>
      `${label(e.revision)} (${e.revision.source}) was changed after ${tool} applied it (${tool}'s hash ${e.stored.slice(0, 12)}… when applied, ${e.today.slice(0, 12)}… today): ` +
      'adopted as applied, not run again; the change itself was never applied. Put it in a new revision if the database needs it.',
  )
  if (settings.takeover.strict && edited.length)
    throw adoptionMismatch(
      tool,
      foreign!.at.display,
      edited.map((e) => `${label(e.revision)} (${e.revision.source}) was changed after ${tool} applied it (its hash differs)`),
      `${foreign!.history.recovery} (takeover.strict refuses edited files; without it they are adopted with a warning.)`,
    )
  const by = (rev: Revision) => {
    const e = edited.find((x) => x.revision === rev)
    return `${settings.instanceId} (taken over from ${tool}${e ? `; ${tool}'s hash ${e.stored} when applied, ${e.today} today` : ''})`
  }
  await record(conn, dialect, settings, adopted, true, revisions, by)
  if (adopted.length) log.info(`took over ${tool}'s history (${foreign!.at.display}): ${adopted.map(label).join(', ')} recorded as applied without running them`)
  for (const w of warnings) log.warn(w)
  return { rows: rows ?? adopted.map((x) => ({ id: x.id, checksum: x.checksum, state: 'applied' })), warnings }
}

/**
 * Records revisions as applied without running them (adoption, stamp), creating the tables first, in one
 * transaction. `all` is every local revision (which tool's table to create); `by` the applied_by of each row.
 */
export async function record(
  conn: Connection,
  dialect: Dialect,
  settings: Settings,
  revisions: Revision[],
  create: boolean,
  all: Revision[] = revisions,
  by: (rev: Revision) => string = () => settings.instanceId,
) {
  const creates = create ? [...dialect.history.create, ...keepCreate(dialect, settings, all)] : []
  await conn.transaction(
    async (tx) => {
      if (creates.length) await tx.batch(creates)
      for (const rev of revisions) {
        await tx.query(dialect.history.insert, rowValues(rev, 'applied', by(rev), null))
        for (const [text, params] of keepRecord(dialect, settings, rev, 'up')) await tx.query(text, params)
      }
    },
    { lockTimeout: settings.ddlLockTimeout, statements: [] },
  )
}

