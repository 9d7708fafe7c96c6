import type { Origin } from '../tools/tool.js'
import type { MigrationFn } from '../types.js'
import { splitStatements, type SqlSyntax, type Statement } from './split.js'

/** One direction of a revision: SQL statements or a function. */
export type Step = { kind: 'sql'; statements: Statement[]; text: string } | { kind: 'fn'; fn: MigrationFn }

/**
 * A SQL step whose statements are split on first use. A boot at head needs only each revision's id and checksum
 * (a hash of `text`); splitting every file of a long history cost most of a cold boot, so only the revisions that
 * run (or that a command looks into) are split. The getter is enumerable: `{ ...step }` copies the statements.
 */
export function sqlStep(text: string, body: string, syntax: SqlSyntax, startLine?: number): Step & { kind: 'sql' } {
  let statements: Statement[] | undefined
  return {
    kind: 'sql',
    text,
    get statements() {
      return (statements ??= splitStatements(body, syntax, startLine))
    },
  }
}

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
  /**
   * `contract`: deferred at boot, applied by `phase: 'contract'` (see MigrateOptions.phase). Absent (expand) for
   * revisions read from another tool's folder.
   */
  phase?: 'expand' | 'contract'
  /** For revisions read from another tool's folder: who the revision is to that tool (see src/tools/). */
  origin?: Origin
  /** Logged (info) once when the revision is read: how it was read differently from the file as written. */
  notice?: string
  /**
   * How long each of its statements may run (ms): a `-- migrate:statement-timeout` line (`line`), or the `statementTimeout`
   * of its module or `migrations` entry. Overrides the statementTimeout option.
   */
  statementTimeout?: { ms: number; line?: number }
}

/** The down script kept in the history, so a revision can be reverted by code that no longer ships it. */
export const downSql = (r: Revision): string | null => (r.down?.kind === 'sql' ? r.down.text : null)

export const label = (r: { id: string; name: string }) => (r.name && r.name !== r.id && !r.id.endsWith(r.name) ? `${r.id}_${r.name}` : r.id)

/** The step to run in a direction; a revision without a down step is refused before it gets here. */
export const stepOf = (r: Revision, direction: 'up' | 'down'): Step => (direction === 'up' ? r.up : r.down!)

/** Whether the boot defers the revision (MigrateOptions.phase). */
export const isContract = (r: Revision): boolean => r.phase === 'contract'
