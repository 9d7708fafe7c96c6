import { createHash } from 'node:crypto'
import type { Executor } from '../core/connection.js'
import { objectsIn } from './mysql-objects.js'
import { rowsOf, type MyConn } from './mysql-connection.js'

type Query = MyConn['query']

/**
 * The current database's schema as sorted lines, from information_schema: tables, columns with types,
 * nullability, defaults and extras, indexes, foreign keys, check constraints, views, triggers and routines.
 * The history table and its progress table are left out. MariaDB writes column defaults as SQL expressions (`'x'`, NULL) where
 * MySQL 8 writes the bare value: compare snapshots from one server, never across the two.
 */
export async function mySchemaSnapshot(query: Query, table: string): Promise<string[]> {
  const q = async (text: string) => (rowsOf(await query(text, [table, `${table}_progress`])) as Array<{ line: string }>).map((r) => String(r.line))
  const here = (alias: string, col = 'table_name') => `${alias}.table_schema = database() and ${alias}.${col} not in (?, ?)`
  const parts = await Promise.all([
    q(`select concat('table ', t.table_name, ' ', coalesce(t.engine, '')) as line from information_schema.tables t
        where ${here('t')} and t.table_type = 'BASE TABLE'`),
    q(`select concat('column ', c.table_name, '.', c.column_name, ' ', c.column_type, ' ', if(c.is_nullable = 'YES', 'null', 'not null'),
                     coalesce(concat(' default ', c.column_default), ''), if(c.extra <> '', concat(' ', c.extra), '')) as line
         from information_schema.columns c join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
        where ${here('c')} and t.table_type = 'BASE TABLE'`),
    // As CREATE INDEX would write it (the primary key as PRIMARY KEY), so a diff reads like the statement to run.
    q(`select concat(if(s.index_name = 'PRIMARY', concat('primary key ', s.table_name, ' ('),
                 concat('index ', s.index_name, ': create ', if(s.non_unique = 0, 'unique ', ''), if(s.index_type in ('FULLTEXT', 'SPATIAL'), concat(lower(s.index_type), ' '), ''),
                        'index ', s.index_name, ' on ', s.table_name, ' (')),
              group_concat(concat(s.column_name, coalesce(concat('(', s.sub_part, ')'), '')) order by s.seq_in_index separator ', '), ')',
              if(s.index_type in ('BTREE', 'FULLTEXT', 'SPATIAL'), '', concat(' using ', lower(s.index_type)))) as line
         from information_schema.statistics s where ${here('s')}
        group by s.table_name, s.index_name, s.non_unique, s.index_type`),
    q(`select concat('foreign key ', k.table_name, '.', k.constraint_name, ' (', group_concat(k.column_name order by k.ordinal_position separator ', '),
                     ') -> ', k.referenced_table_name, ' (', group_concat(k.referenced_column_name order by k.ordinal_position separator ', '),
                     ') on update ', r.update_rule, ' on delete ', r.delete_rule) as line
         from information_schema.key_column_usage k
         join information_schema.referential_constraints r on r.constraint_schema = k.constraint_schema and r.constraint_name = k.constraint_name and r.table_name = k.table_name
        where ${here('k')} and k.referenced_table_name is not null
        group by k.table_name, k.constraint_name, k.referenced_table_name, r.update_rule, r.delete_rule`),
    q(`select concat('check ', tc.table_name, '.', tc.constraint_name, ': ', cc.check_clause) as line
         from information_schema.table_constraints tc
         join information_schema.check_constraints cc on cc.constraint_schema = tc.constraint_schema and cc.constraint_name = tc.constraint_name
        where ${here('tc')} and tc.constraint_type = 'CHECK'`).catch(() => []),
    q(`select concat('view ', v.table_name, ': ', v.view_definition) as line from information_schema.views v where ${here('v')}`),
    q(`select concat('trigger ', g.trigger_name, ' ', g.action_timing, ' ', g.event_manipulation, ' on ', g.event_object_table, ': ', g.action_statement) as line
         from information_schema.triggers g where g.trigger_schema = database() and g.event_object_table not in (?, ?)`),
    q(`select concat(lower(r.routine_type), ' ', r.routine_name, ': ', coalesce(r.routine_definition, '')) as line
         from information_schema.routines r where r.routine_schema = database() and r.routine_name not in (?, ?)`),
  ])
  return parts.flat().sort()
}

/** SHOW CREATE errors that mean "no such object": table/view, trigger, routine, event. */
const ABSENT = new Set([1146, 1360, 1305, 1539, 1049])

/**
 * A digest of the objects a DDL statement names (`SHOW CREATE` of each, or "absent"), taken before it runs and
 * recorded with it. A DDL statement is atomic on servers with atomic DDL (MySQL 8, MariaDB 10.6+): after a crash it
 * either completed or left no trace, so objects that differ from the digest say it completed, the same ones say it
 * did not. SHOW CREATE, not information_schema: MariaDB 10.11 builds a temporary table for every information_schema
 * read, and a KILL landing while it does crashes the server (signal 11 in create_tmp_table_for_schema).
 * Undefined when the statement names no object (nothing to compare).
 */
export async function mySchemaDigest(on: Executor, statement: string): Promise<string | undefined> {
  const objects = objectsIn(statement)
  if (!objects) return undefined
  const hash = createHash('sha256')
  for (const o of objects) {
    const text = await on.query<Record<string, unknown>>(`show create ${o.kind} ${o.name.map(quote).join('.')}`).then(
      (rows) => JSON.stringify(Object.values(rows[0] ?? {}).map((v) => String(v).replace(/ AUTO_INCREMENT=\d+/, ''))),
      (e: unknown) => {
        if (ABSENT.has(Number((e as { errno?: unknown })?.errno))) return 'absent'
        throw e
      },
    )
    hash.update(`${o.kind} ${o.name.join('.')}\n${text}\n`)
  }
  return hash.digest('hex').slice(0, 32)
}

const quote = (name: string) => `\`${name.replace(/`/g, '``')}\``

/** Whether the server's DDL is atomic (crash-safe statement by statement): MySQL 8.0+, MariaDB 10.6+. */
export function atomicDdl(version: string): boolean {
  const [major = 0, minor = 0] = version.split(/[.-]/).map(Number)
  return /mariadb/i.test(version) ? major > 10 || (major === 10 && minor >= 6) : major >= 8
}
