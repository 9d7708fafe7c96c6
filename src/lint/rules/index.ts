import { addColumn, columnType, setNotNull } from './columns.js'
import { requireNotValid, uniqueWithoutIndex } from './constraints.js'
import { contractOnly } from './contract.js'
import { enumValue } from './enums.js'
import { requireConcurrentIndex } from './indexes.js'
import { rewriteCommands } from './maintenance.js'
import type { Rule, RuleId } from './types.js'

export type { Hit, Rule, RuleId } from './types.js'

export const RULES: Rule[] = [requireConcurrentIndex, addColumn, columnType, requireNotValid, uniqueWithoutIndex, setNotNull, contractOnly, rewriteCommands, enumValue]

/** Why each rule exists: what the statement does to a live database. Documented in the README's rule table. */
export const WHY: Record<RuleId, string> = {
  'require-concurrent-index': 'CREATE INDEX holds a SHARE lock on the table for the whole build: every INSERT, UPDATE and DELETE waits.',
  'not-null-column-without-default':
    'A NOT NULL column without a default fails on a table that has rows, and inserts by code that does not know the column fail.',
  'column-default-rewrite':
    'The table is rewritten under an ACCESS EXCLUSIVE lock (reads wait too): any default before PostgreSQL 11, a volatile default, serial, identity or stored generated column on any version.',
  'column-type-rewrite': 'Changing a column type rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock, except for binary-compatible widenings.',
  'require-not-valid':
    'Adding a foreign key or check validates every row at once while writes wait (a foreign key locks the referenced table too); NOT VALID + a later VALIDATE scans under a lock that lets writes through.',
  'unique-constraint-without-index': 'UNIQUE or PRIMARY KEY builds its index under an ACCESS EXCLUSIVE lock: reads and writes wait for the build.',
  'set-not-null': 'SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock, unless a validated CHECK (col IS NOT NULL) already proves it (PostgreSQL 12+).',
  'drop-column': 'Code still running from the previous release may read or write the column; it fails until every instance is replaced.',
  'drop-table': 'Code still running from the previous release may read the table; it fails until every instance is replaced.',
  'rename-table': 'A rename is a drop for code that uses the old name: running instances fail until every one is replaced.',
  'rename-column': 'A rename is a drop for code that uses the old name: running instances fail until every one is replaced.',
  'vacuum-full': 'VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait for the whole copy.',
  cluster: 'CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock: reads and writes wait for the whole copy.',
  'enum-value-same-transaction':
    'A value added by ALTER TYPE … ADD VALUE cannot be used before its transaction commits, and before PostgreSQL 12 it cannot be added in a transaction at all: the revision fails.',
}

export const RULE_IDS = Object.keys(WHY) as RuleId[]
