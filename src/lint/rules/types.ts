import type { LintRule } from '../../types.js'
import type { RevisionState } from '../model.js'
import type { Node } from '../parser.js'

/** What a rule found in one statement; the runner adds where (revision, file, line) and the rule's why. */
export interface Hit {
  rule: RuleId
  message: string
  /** The safe rewrite, for this statement. */
  fix: string
  /** The table a drop-table hit is about: dropped and created again by one transactional revision, it never went away. */
  table?: string
}

/** Looks at one top-level statement (`kind` is its node type) with the state before it ran. */
export type Rule = (kind: string, n: Node, s: RevisionState) => Hit[]

export type RuleId = Exclude<LintRule, 'syntax-error'>

/** The ALTER TABLE subcommands of a statement on a table (not an index, view or type). */
export const alterCmds = (kind: string, n: Node): Node[] =>
  kind === 'AlterTableStmt' && n.objtype === 'OBJECT_TABLE' ? ((n.cmds as Node[] | undefined) ?? []).map((c) => (c as Node).AlterTableCmd as Node) : []

export const q = (name: unknown) => `"${String(name).replace(/"/g, '""')}"`
/** A table key (`name` or `schema.name`) as SQL. */
export const qt = (key: string) => key.split('.').map(q).join('.')
