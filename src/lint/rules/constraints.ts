import { kindOf, tableKey } from '../ast.js'
import { isNew } from '../model.js'
import type { Node } from '../parser.js'
import { alterCmds, q, qt, type Hit, type Rule } from './types.js'

const constraintsOf = (def: Node) => ((def.constraints as Node[] | undefined) ?? []).map((c) => kindOf(c)[1])

/**
 * A foreign key or check added to an existing table is validated at once, scanning the table (and, for a foreign
 * key, locking the referenced one) while writes wait. NOT VALID skips the scan; VALIDATE CONSTRAINT, in a later
 * transaction, scans under a lock that lets writes through. Validating in the same transaction as the NOT VALID
 * add gains nothing: the add's stronger lock is held until commit.
 */
export const requireNotValid: Rule = (kind, n, s) => {
  const table = tableKey(n.relation)
  const out: Hit[] = []
  for (const cmd of alterCmds(kind, n)) {
    if (cmd.subtype === 'AT_ValidateConstraint') {
      const at = s.notValid.get(`${table}.${cmd.name}`)
      if (at !== undefined && s.revision.transaction && !isNew(s, n.relation))
        out.push({
          rule: 'require-not-valid',
          message: `VALIDATE CONSTRAINT ${q(cmd.name)} in the same transaction as its ADD … NOT VALID (line ${at}): the add's lock on ${qt(table)} is held through the whole scan`,
          fix: 'move VALIDATE CONSTRAINT to a later revision (or mark this one -- migrate:no-transaction)',
        })
      continue
    }
    if (isNew(s, n.relation)) continue
    const [dk, def] = kindOf(cmd.def as Node)
    const found: Array<{ c: Node; column?: string }> = []
    if (cmd.subtype === 'AT_AddConstraint' && dk === 'Constraint') found.push({ c: def })
    if (cmd.subtype === 'AT_AddColumn' && dk === 'ColumnDef') for (const c of constraintsOf(def)) if (c.contype === 'CONSTR_FOREIGN') found.push({ c, column: String(def.colname) })
    for (const { c, column } of found) {
      if ((c.contype !== 'CONSTR_FOREIGN' && c.contype !== 'CONSTR_CHECK') || c.skip_validation) continue
      const what = c.contype === 'CONSTR_FOREIGN' ? 'FOREIGN KEY' : 'CHECK'
      const name = c.conname ? ` ${q(c.conname)}` : ''
      out.push({
        rule: 'require-not-valid',
        message: column
          ? `ADD COLUMN ${q(column)} … REFERENCES on the existing table ${qt(table)} validates the foreign key at once, locking both tables while it scans`
          : `ADD CONSTRAINT${name} ${what} on the existing table ${qt(table)} without NOT VALID: validated at once, ${what === 'CHECK' ? 'scanning the table while writes wait' : 'locking both tables while it scans'}`,
        fix: column
          ? `ADD COLUMN ${q(column)} without REFERENCES; then ADD CONSTRAINT … FOREIGN KEY (${q(column)}) … NOT VALID; then VALIDATE CONSTRAINT in a later revision`
          : `ADD CONSTRAINT${name} ${what} (…) NOT VALID; then ALTER TABLE ${qt(table)} VALIDATE CONSTRAINT${name || ' …'} in a later revision`,
      })
    }
  }
  return out
}

/** UNIQUE / PRIMARY KEY added to an existing table builds its index under an ACCESS EXCLUSIVE lock, unless USING INDEX. */
export const uniqueWithoutIndex: Rule = (kind, n, s) => {
  if (isNew(s, n.relation)) return []
  const table = tableKey(n.relation)
  const out: Hit[] = []
  for (const cmd of alterCmds(kind, n)) {
    const [dk, def] = kindOf(cmd.def as Node)
    const found: Array<{ c: Node; column?: string }> = []
    if (cmd.subtype === 'AT_AddConstraint' && dk === 'Constraint') found.push({ c: def })
    if (cmd.subtype === 'AT_AddColumn' && dk === 'ColumnDef')
      for (const c of constraintsOf(def)) if (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') found.push({ c, column: String(def.colname) })
    for (const { c, column } of found) {
      if ((c.contype !== 'CONSTR_UNIQUE' && c.contype !== 'CONSTR_PRIMARY') || c.indexname) continue
      const what = c.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'PRIMARY KEY'
      const name = c.conname ? String(c.conname) : column ? `${table.split('.').pop()}_${column}_key` : `${table.split('.').pop()}_key`
      out.push({
        rule: 'unique-constraint-without-index',
        message: `${column ? `ADD COLUMN ${q(column)} … ${what}` : `ADD CONSTRAINT${c.conname ? ` ${q(c.conname)}` : ''} ${what}`} on the existing table ${qt(table)} builds its index while reads and writes wait`,
        fix: `CREATE UNIQUE INDEX CONCURRENTLY ${q(name)} ON ${qt(table)} (…) in a -- migrate:no-transaction revision; then ADD CONSTRAINT ${q(name)} ${what} USING INDEX ${q(name)}`,
      })
    }
  }
  return out
}
