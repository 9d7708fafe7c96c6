import type { Revision } from '../revisions/revision.js'
import { kindOf, listKey, notNullColumn, tableKey, typeOf, type ColumnType } from './ast.js'
import type { Node } from './parser.js'

/**
 * What the linter knows of the schema from the revisions before the statement at hand: column types (to tell a
 * widening from a rewrite) and `col IS NOT NULL` checks (SET NOT NULL skips its scan when one is validated), across the
 * whole history; and what this revision created (a new table is empty: locks and rewrites on it cost nothing).
 */
export class Schema {
  readonly columns = new Map<string, Map<string, ColumnType>>()
  /** table → check constraints testing `col IS NOT NULL`. */
  readonly checks = new Map<string, Array<{ name: string; column: string; valid: boolean }>>()
}

export interface RevisionState {
  revision: Revision
  /** PostgreSQL major version the revisions will run on. */
  version: number
  /** Tables (and materialized views) created by this revision, before the statement at hand. */
  created: Set<string>
  /** Columns added by this revision to tables it did not create: `table.column`. */
  addedColumns: Set<string>
  /** Enum types created by this revision. */
  createdTypes: Set<string>
  /** Enum values added by this revision (transactional revisions only): value → line. */
  newEnumValues: Map<string, number>
  /** Constraints added NOT VALID by this revision: `table.constraint` → line. */
  notValid: Map<string, number>
  schema: Schema
}

export const isNew = (s: RevisionState, rel: Node | undefined) => s.created.has(tableKey(rel))

/** Updates the state with what a statement did, after the rules have looked at it. */
export function track(kind: string, n: Node, s: RevisionState, line: number): void {
  const { schema } = s
  const cols = (table: string) => {
    let m = schema.columns.get(table)
    if (!m) schema.columns.set(table, (m = new Map()))
    return m
  }
  switch (kind) {
    case 'CreateStmt': {
      const t = tableKey(n.relation as Node)
      s.created.add(t)
      schema.columns.set(t, new Map())
      schema.checks.delete(t)
      for (const e of (n.tableElts as Node[] | undefined) ?? []) {
        const [k, c] = kindOf(e)
        if (k === 'ColumnDef') {
          const ty = typeOf(c.typeName as Node)
          if (ty) cols(t).set(String(c.colname), ty)
        } else if (k === 'Constraint') addCheck(s, t, c)
      }
      return
    }
    case 'CreateTableAsStmt':
      s.created.add(tableKey((n.into as Node | undefined)?.rel as Node))
      return
    case 'CreateEnumStmt':
      s.createdTypes.add(listKey(n.typeName as Node[]))
      return
    case 'AlterEnumStmt':
      if (n.newVal && !n.oldVal && s.revision.transaction && !s.createdTypes.has(listKey(n.typeName as Node[]))) s.newEnumValues.set(String(n.newVal), line)
      return
    case 'AlterTableStmt': {
      const t = tableKey(n.relation as Node)
      for (const c of (n.cmds as Node[] | undefined) ?? []) {
        const cmd = kindOf(c)[1]
        const [dk, def] = kindOf(cmd.def as Node)
        switch (cmd.subtype) {
          case 'AT_AddColumn': {
            const ty = dk === 'ColumnDef' ? typeOf(def.typeName as Node) : undefined
            if (ty) cols(t).set(String(def.colname), ty)
            if (dk === 'ColumnDef') s.addedColumns.add(`${t}.${def.colname}`)
            break
          }
          case 'AT_AlterColumnType': {
            const ty = dk === 'ColumnDef' ? typeOf(def.typeName as Node) : undefined
            if (ty) cols(t).set(String(cmd.name), ty)
            break
          }
          case 'AT_DropColumn':
            schema.columns.get(t)?.delete(String(cmd.name))
            break
          case 'AT_AddConstraint':
            if (dk === 'Constraint') {
              addCheck(s, t, def)
              if (def.skip_validation && def.conname) s.notValid.set(`${t}.${def.conname}`, line)
            }
            break
          case 'AT_ValidateConstraint':
            for (const c of schema.checks.get(t) ?? []) if (c.name === cmd.name) c.valid = true
            break
          case 'AT_DropConstraint':
            schema.checks.set(t, (schema.checks.get(t) ?? []).filter((c) => c.name !== cmd.name))
            break
        }
      }
      return
    }
    case 'RenameStmt': {
      const t = tableKey(n.relation as Node)
      if (n.renameType === 'OBJECT_TABLE') {
        const to = (n.relation as Node).schemaname && (n.relation as Node).schemaname !== 'public' ? `${(n.relation as Node).schemaname}.${n.newname}` : String(n.newname)
        for (const m of [schema.columns, schema.checks] as Array<Map<string, unknown>>) {
          if (m.has(t)) m.set(to, m.get(t)), m.delete(t)
        }
        if (s.created.delete(t)) s.created.add(to)
      } else if (n.renameType === 'OBJECT_COLUMN') {
        const m = schema.columns.get(t)
        const ty = m?.get(String(n.subname))
        if (m && ty) m.delete(String(n.subname)), m.set(String(n.newname), ty)
        for (const c of schema.checks.get(t) ?? []) if (c.column === n.subname) c.column = String(n.newname)
      }
      return
    }
    case 'DropStmt':
      if (n.removeType === 'OBJECT_TABLE')
        for (const o of (n.objects as Node[] | undefined) ?? []) {
          const t = listKey(kindOf(o)[1].items as Node[])
          schema.columns.delete(t)
          schema.checks.delete(t)
          s.created.delete(t)
        }
      return
  }
}

function addCheck(s: RevisionState, table: string, c: Node) {
  if (c.contype !== 'CONSTR_CHECK') return
  const column = notNullColumn(c.raw_expr as Node)
  if (!column) return
  const list = s.schema.checks.get(table) ?? []
  list.push({ name: String(c.conname ?? ''), column, valid: !c.skip_validation })
  s.schema.checks.set(table, list)
}

