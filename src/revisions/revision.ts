import type { MigrationFn } from '../types.js'
import type { Statement } from './split.js'

/** One direction of a revision: SQL statements or a function. */
export type Step = { kind: 'sql'; statements: Statement[]; text: string } | { kind: 'fn'; fn: MigrationFn }

/** A revision after loading and validation: what the planner and the dialects work with. */
export interface Revision {
  id: string
  name: string
  /** Where it came from, for messages: a file path or `migrations[3]`. */
  source: string
  checksum: string | null
  transaction: boolean
  up: Step
  down: Step | null
  /** For revisions from a drizzle-kit folder: what drizzle's own history table records. */
  drizzle?: { hash: string; when: number; name: string | null }
}

/** The down script kept in the history, so a revision can be reverted by code that no longer ships it. */
export const downSql = (r: Revision): string | null => (r.down?.kind === 'sql' ? r.down.text : null)

export const label = (r: { id: string; name: string }) => (r.name && r.name !== r.id && !r.id.endsWith(r.name) ? `${r.id}_${r.name}` : r.id)

/** The step to run in a direction; a revision without a down step is refused before it gets here. */
export const stepOf = (r: Revision, direction: 'up' | 'down'): Step => (direction === 'up' ? r.up : r.down!)
