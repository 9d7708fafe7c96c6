import { kindOf, namesOf, tableKey, typeOf, typeText, walk, type ColumnType } from '../ast.js'
import { isNew } from '../model.js'
import type { Node } from '../parser.js'
import { alterCmds, q, qt, type Hit, type Rule } from './types.js'

/** Functions whose value differs per row: as a column default they make PostgreSQL 11+ write every row. */
const VOLATILE = new Set([
  'random',
  'random_normal',
  'gen_random_uuid',
  'uuidv4',
  'uuidv7',
  'uuid_generate_v1',
  'uuid_generate_v1mc',
  'uuid_generate_v4',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'txid_current',
  'pg_current_xact_id',
])
const SERIAL = new Set(['serial', 'serial4', 'bigserial', 'serial8', 'smallserial', 'serial2'])

const constraintsOf = (def: Node) => ((def.constraints as Node[] | undefined) ?? []).map((c) => kindOf(c)[1])

/** Why adding this column writes every row on `version`, or undefined when it only changes the catalog. */
function rewriteOf(def: Node, version: number): string | undefined {
  const cons = constraintsOf(def)
  const ty = typeOf(def.typeName as Node)
  if (ty && SERIAL.has(ty.name)) return `a ${ty.name} column (its default is nextval(), a new value per row)`
  if (cons.some((c) => c.contype === 'CONSTR_IDENTITY')) return 'an identity column (a new value per row)'
  if (cons.some((c) => c.contype === 'CONSTR_GENERATED' && c.generated_kind === 's'))
    return 'a stored generated column (computed for every row)'
  const d = cons.find((c) => c.contype === 'CONSTR_DEFAULT')
  if (!d) return undefined
  if (version < 11) return 'a column with a default before PostgreSQL 11'
  for (const [k, f] of walk(d.raw_expr)) {
    if (k !== 'FuncCall') continue
    const names = ((f.funcname as Node[] | undefined) ?? []).map((x) => String(kindOf(x)[1].sval))
    const name = names[names.length - 1]!.toLowerCase()
    if (VOLATILE.has(name)) return `a column whose default ${name}() is volatile (a new value per row)`
  }
  return undefined
}

/** ADD COLUMN on an existing table: NOT NULL without a default, and defaults that rewrite the table. */
export const addColumn: Rule = (kind, n, s) => {
  if (isNew(s, n.relation)) return []
  const table = tableKey(n.relation)
  const out: Hit[] = []
  for (const cmd of alterCmds(kind, n)) {
    if (cmd.subtype !== 'AT_AddColumn') continue
    const def = kindOf(cmd.def as Node)[1]
    const col = q(def.colname)
    const cons = constraintsOf(def)
    const rewrite = rewriteOf(def, s.version)
    if (rewrite)
      out.push({
        rule: 'column-default-rewrite',
        message: `ADD COLUMN ${col} to ${qt(table)} rewrites the table under an ACCESS EXCLUSIVE lock: ${rewrite}`,
        fix:
          s.version < 11
            ? `ADD COLUMN ${col} without a default; then SET DEFAULT (new rows only); backfill existing rows in batches`
            : `ADD COLUMN ${col} with no default (or a constant one); then SET DEFAULT …; backfill existing rows in batches`,
      })
    const hasDefault = cons.some((c) => c.contype === 'CONSTR_DEFAULT' || c.contype === 'CONSTR_IDENTITY' || c.contype === 'CONSTR_GENERATED')
    const ty = typeOf(def.typeName as Node)
    if (!hasDefault && !(ty && SERIAL.has(ty.name)) && cons.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY'))
      out.push({
        rule: 'not-null-column-without-default',
        message: `ADD COLUMN ${col} NOT NULL without a default to the existing table ${qt(table)}: fails on a table with rows, and breaks inserts by code that does not set it`,
        fix: `ADD COLUMN ${col} … DEFAULT <constant> NOT NULL; or add it nullable, backfill, then SET NOT NULL after a validated CHECK (${col} IS NOT NULL)`,
      })
  }
  return out
}

/** Whether changing `from` to `to` keeps the stored bytes valid (PostgreSQL skips the rewrite and the index rebuild). */
function binaryCompatible(from: ColumnType, to: ColumnType): boolean {
  if (from.array !== to.array) return false
  if (from.name === to.name && from.mods.join() === to.mods.join()) return true
  const text = (t: ColumnType) => t.name === 'text' || (t.name === 'varchar' && !t.mods.length)
  if ((from.name === 'varchar' || from.name === 'text') && text(to)) return true
  if (from.name === 'varchar' && to.name === 'varchar') return to.mods[0]! >= from.mods[0]!
  if ((from.name === 'varbit' || from.name === 'bit varying') && from.name === to.name) return !to.mods.length || (!!from.mods.length && to.mods[0]! >= from.mods[0]!)
  if (from.name === 'numeric' && to.name === 'numeric') {
    if (!to.mods.length) return true
    if (!from.mods.length) return false
    const [p1, s1 = 0] = from.mods
    const [p2, s2 = 0] = to.mods
    return s1 === s2 && p2! >= p1!
  }
  if (from.name === 'cidr' && to.name === 'inet') return true
  return false
}

/** ALTER COLUMN … TYPE that rewrites the table (and rebuilds its indexes) under an ACCESS EXCLUSIVE lock. */
export const columnType: Rule = (kind, n, s) => {
  if (isNew(s, n.relation)) return []
  const table = tableKey(n.relation)
  const out: Hit[] = []
  for (const cmd of alterCmds(kind, n)) {
    if (cmd.subtype !== 'AT_AlterColumnType') continue
    const def = kindOf(cmd.def as Node)[1]
    const to = typeOf(def.typeName as Node)
    const from = s.schema.columns.get(table)?.get(String(cmd.name))
    // `USING col` is the same as no USING.
    const [uk, u] = kindOf(def.raw_default as Node)
    const using = def.raw_default !== undefined && !(uk === 'ColumnRef' && namesOf(u.fields).join('.') === cmd.name)
    if (to && from && !using && binaryCompatible(from, to)) continue
    const col = q(cmd.name)
    out.push({
      rule: 'column-type-rewrite',
      message:
        `ALTER COLUMN ${col} TYPE ${to ? typeText(to) : '…'} on ${qt(table)} ` +
        (from ? `(from ${typeText(from)}) ` : '(its type before is not in these revisions) ') +
        `${using ? 'with USING ' : ''}rewrites the table and its indexes under an ACCESS EXCLUSIVE lock` +
        (from?.name === 'timestamp' && to?.name === 'timestamptz' && !using ? ' (PostgreSQL 12+ skips it only when the session TimeZone is UTC)' : ''),
      fix: `add a new column ${q(`${cmd.name}_new`)} of the new type, write both from the code, backfill in batches, switch reads, then drop ${col} in a contract revision`,
    })
  }
  return out
}

/** SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock unless a validated CHECK (col IS NOT NULL) proves it (PostgreSQL 12+). */
export const setNotNull: Rule = (kind, n, s) => {
  if (isNew(s, n.relation)) return []
  const table = tableKey(n.relation)
  const out: Hit[] = []
  for (const cmd of alterCmds(kind, n)) {
    if (cmd.subtype !== 'AT_SetNotNull') continue
    if (s.version >= 12 && (s.schema.checks.get(table) ?? []).some((c) => c.column === cmd.name && c.valid)) continue
    const col = q(cmd.name)
    out.push({
      rule: 'set-not-null',
      message: `ALTER COLUMN ${col} SET NOT NULL on ${qt(table)} scans the whole table under an ACCESS EXCLUSIVE lock`,
      fix:
        s.version >= 12
          ? `first ADD CONSTRAINT ${q(`${cmd.name}_not_null`)} CHECK (${col} IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT in a later revision; SET NOT NULL then skips the scan (drop the check after)`
          : `before PostgreSQL 12 the scan cannot be skipped: keep a validated CHECK (${col} IS NOT NULL) (added NOT VALID, validated separately) instead of NOT NULL`,
    })
  }
  return out
}
