import type { DrizzleRow } from '../adopt.js'
import type { Revision } from '../revisions/revision.js'
import type { ErrorKind, Executor } from './connection.js'

/** drizzle's `__drizzle_migrations` as a dialect spells it. */
export interface DrizzleTable {
  /** Quoted (and schema-qualified) table name. */
  table: string
  /** drizzle's own DDL for the table (and its schema). */
  create: string[]
  param(n: number): string
}

/** drizzle's history rows, for adoption on the first run; null when the table does not exist. */
export async function readDrizzleRows(on: Executor, d: DrizzleTable, classify: (e: unknown) => ErrorKind): Promise<DrizzleRow[] | null> {
  try {
    const rows = await on.query<{ hash: string; created_at: string | number | null; name?: string | null }>(`select * from ${d.table}`)
    return rows.map((r) => ({ hash: r.hash, createdAt: Number(r.created_at), name: r.name ?? null }))
  } catch (e) {
    if (classify(e) === 'missing-table') return null
    throw e
  }
}

/** With keepHistory, drizzle's table follows ours in the same transaction; idempotent, so adoption can repeat it. */
export function drizzleRecord(d: DrizzleTable, rev: Revision, direction: 'up' | 'down'): [string, unknown[]] | undefined {
  if (!rev.drizzle) return undefined
  const { hash, when, name } = rev.drizzle
  const t = d.table
  const p = d.param
  if (direction === 'down') return [`delete from ${t} where hash = ${p(1)} and created_at = ${p(2)}`, [hash, when]]
  return name
    ? [`insert into ${t} (hash, created_at, name) select ${p(1)}, ${p(2)}, ${p(3)} where not exists (select 1 from ${t} where name = ${p(4)})`, [hash, when, name, name]]
    : [
        `insert into ${t} (hash, created_at) select ${p(1)}, ${p(2)} where not exists (select 1 from ${t} where hash = ${p(3)} and created_at = ${p(4)})`,
        [hash, when, hash, when],
      ]
}
