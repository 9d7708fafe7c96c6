import { tableKey } from '../ast.js'
import { isNew } from '../model.js'
import { q, qt, type Rule } from './types.js'

/**
 * CREATE INDEX takes a SHARE lock: writes to the table wait for the whole build. On a table this revision created
 * there is nothing to wait for; `ON ONLY` a partitioned table makes an invalid index without a build (the safe
 * pattern for partitions), so neither is flagged.
 */
export const requireConcurrentIndex: Rule = (kind, n, s) => {
  if (kind !== 'IndexStmt' || n.concurrent || isNew(s, n.relation) || !n.relation?.inh) return []
  const table = tableKey(n.relation)
  return [
    {
      rule: 'require-concurrent-index',
      message: `CREATE ${n.unique ? 'UNIQUE ' : ''}INDEX${n.idxname ? ` ${q(n.idxname)}` : ''} on the existing table ${qt(table)} without CONCURRENTLY`,
      fix: `CREATE ${n.unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY${n.idxname ? ` ${q(n.idxname)}` : ''} ON ${qt(table)} (…), alone in a revision with -- migrate:no-transaction`,
    },
  ]
}
