import { kindOf, tableKey } from '../ast.js'
import { isNew } from '../model.js'
import type { Node } from '../parser.js'
import { qt, type Rule } from './types.js'

/** VACUUM FULL and CLUSTER rewrite the table under an ACCESS EXCLUSIVE lock: reads wait too, for the whole copy. */
export const rewriteCommands: Rule = (kind, n, s) => {
  if (kind === 'VacuumStmt' && n.is_vacuumcmd && ((n.options as Node[] | undefined) ?? []).some((o) => kindOf(o)[1].defname === 'full')) {
    const rels = ((n.rels as Node[] | undefined) ?? []).map((r) => qt(tableKey(kindOf(r)[1].relation as Node)))
    return [
      {
        rule: 'vacuum-full',
        message: `VACUUM FULL${rels.length ? ` ${rels.join(', ')}` : ' (every table)'} rewrites ${rels.length === 1 ? 'the table' : 'each table'} while reads and writes wait`,
        fix: 'plain VACUUM (no lock on reads and writes); to give the space back online, pg_repack or pg_squeeze',
      },
    ]
  }
  // A table this revision created holds nothing yet to copy.
  if (kind === 'ClusterStmt' && !(n.relation && isNew(s, n.relation)))
    return [
      {
        rule: 'cluster',
        message: `CLUSTER${n.relation ? ` ${qt(tableKey(n.relation))}` : ''} rewrites the table in index order while reads and writes wait`,
        fix: 'pg_repack --order-by (online), or leave the physical order alone',
      },
    ]
  return []
}
