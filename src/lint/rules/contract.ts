import { kindOf, listKey, tableKey } from '../ast.js'
import { isNew } from '../model.js'
import type { Node } from '../parser.js'
import { alterCmds, q, qt, type Hit, type Rule } from './types.js'

/**
 * During a rolling deploy the old code still runs against the new schema: a column or table it reads that is dropped
 * or renamed breaks it. Such changes belong in a contract revision (`-- migrate:phase contract`), applied once no old
 * code runs. A table or column this revision created is no one else's yet.
 */
export const contractOnly: Rule = (kind, n, s) => {
  if (s.revision.phase === 'contract') return []
  const fix = (what: string) =>
    `${what} in a contract revision (-- migrate:phase contract, applied with boot-migrate up --contract after the rollout), once no running code uses it`
  const out: Hit[] = []
  if (kind === 'DropStmt' && n.removeType === 'OBJECT_TABLE') {
    for (const o of (n.objects as Node[] | undefined) ?? []) {
      const t = listKey(kindOf(o)[1].items as Node[])
      if (s.created.has(t)) continue
      out.push({ rule: 'drop-table', table: t, message: `DROP TABLE ${qt(t)} outside a contract revision: code still running may read it`, fix: fix('drop it') })
    }
  }
  if (kind === 'RenameStmt' && !isNew(s, n.relation)) {
    const t = tableKey(n.relation)
    if (n.renameType === 'OBJECT_TABLE')
      out.push({
        rule: 'rename-table',
        message: `ALTER TABLE ${qt(t)} RENAME TO ${q(n.newname)} outside a contract revision: code still running uses the old name`,
        fix: `create a view named ${qt(t)} over the renamed table in the same revision (or rename ${fix('')})`,
      })
    if (n.renameType === 'OBJECT_COLUMN' && n.relationType === 'OBJECT_TABLE' && !s.addedColumns.has(`${t}.${n.subname}`))
      out.push({
        rule: 'rename-column',
        message: `RENAME COLUMN ${q(n.subname)} TO ${q(n.newname)} on ${qt(t)} outside a contract revision: code still running uses the old name`,
        fix: `add ${q(n.newname)}, write both from the code, backfill, switch reads, then drop ${q(n.subname)} ${fix('').replace(/^ in /, 'in ')}`,
      })
  }
  if (!isNew(s, n.relation))
    for (const cmd of alterCmds(kind, n))
      if (cmd.subtype === 'AT_DropColumn' && !s.addedColumns.has(`${tableKey(n.relation)}.${cmd.name}`))
        out.push({
          rule: 'drop-column',
          message: `DROP COLUMN ${q(cmd.name)} on ${qt(tableKey(n.relation))} outside a contract revision: code still running may read or write it`,
          fix: fix('stop using the column in the code first, then drop it'),
        })
  return out
}
