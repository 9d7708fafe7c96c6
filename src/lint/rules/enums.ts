import { listKey, walk } from '../ast.js'
import type { Hit, Rule } from './types.js'

/**
 * An enum value added in a transaction cannot be used before that transaction commits ("unsafe use of new value"),
 * and before PostgreSQL 12 ALTER TYPE … ADD VALUE cannot run in a transaction at all. A type created by the same
 * revision is exempt: PostgreSQL allows both on it.
 */
export const enumValue: Rule = (kind, n, s) => {
  const out: Hit[] = []
  if (kind === 'AlterEnumStmt' && n.newVal && !n.oldVal && s.version < 12 && s.revision.transaction && !s.createdTypes.has(listKey(n.typeName)))
    out.push({
      rule: 'enum-value-same-transaction',
      message: `ALTER TYPE ${listKey(n.typeName)} ADD VALUE '${n.newVal}' in a transaction: PostgreSQL before 12 refuses it`,
      fix: 'put ALTER TYPE … ADD VALUE alone in a -- migrate:no-transaction revision',
    })
  if (!s.newEnumValues.size || kind === 'AlterEnumStmt') return out
  for (const [k, c] of walk(n)) {
    if (k !== 'A_Const' || c.sval === undefined) continue
    const value = String(c.sval.sval ?? '')
    const at = s.newEnumValues.get(value)
    if (at === undefined) continue
    out.push({
      rule: 'enum-value-same-transaction',
      message: `uses the enum value '${value}' added on line ${at} of the same transaction: fails with "unsafe use of new value"`,
      fix: `move ALTER TYPE … ADD VALUE '${value}' to an earlier revision (or make this one -- migrate:no-transaction)`,
    })
    break
  }
  return out
}
