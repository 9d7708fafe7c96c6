import type { Database } from 'better-sqlite3'

type Row = Record<string, string | number | null>

const squash = (sql: string | null) => (sql ?? '').replace(/\s+/g, ' ').trim()

/**
 * The schema as sorted lines, for comparing before and after a revision and its down script. Tables are
 * described column by column from the pragmas, not by their CREATE text, which ALTER TABLE rewrites
 * differently from the statement that made the same table. The history table (and its progress table) is left out.
 */
export function sqliteSchemaSnapshot(db: Database, historyTable: string): string[] {
  const all = (sql: string) => db.prepare(sql).all(historyTable, `${historyTable}_progress`) as Row[]
  const user = `m.name not like 'sqlite\\_%' escape '\\' and m.tbl_name not in (?, ?)`
  const lines = [
    ...all(`select m.name from sqlite_master m where m.type = 'table' and ${user}`).map((r) => `table ${r.name}`),
    ...all(
      `select m.name as tbl, c.name, c.type, c."notnull", c.dflt_value, c.pk, c.hidden
         from sqlite_master m join pragma_table_xinfo(m.name) c where m.type = 'table' and ${user}`,
    ).map(
      (r) =>
        `column ${r.tbl}.${r.name} ${r.type || 'any'} ${r.notnull ? 'not null' : 'null'}` +
        `${r.dflt_value === null ? '' : ` default ${r.dflt_value}`}${r.pk ? ` pk${r.pk}` : ''}${r.hidden ? ` hidden${r.hidden}` : ''}`,
    ),
    ...all(
      `select m.name as tbl, f.id, f.seq, f."table" as parent, f."from", f."to", f.on_update, f.on_delete
         from sqlite_master m join pragma_foreign_key_list(m.name) f where m.type = 'table' and ${user}`,
    ).map((r) => `foreign key ${r.tbl}.${r.from} -> ${r.parent}.${r.to ?? '(primary key)'} on update ${r.on_update} on delete ${r.on_delete}`),
    // Automatic indexes (UNIQUE, PRIMARY KEY) are named by position: describe them by their columns.
    ...all(
      `select m.name as tbl, i.name, i."unique", i.origin, group_concat(c.name, ', ') as columns
         from sqlite_master m join pragma_index_list(m.name) i join pragma_index_info(i.name) c
        where m.type = 'table' and ${user} and i.origin <> 'c' group by m.name, i.name`,
    ).map((r) => `index on ${r.tbl} (${r.columns})${r.unique ? ' unique' : ''} from ${r.origin === 'pk' ? 'primary key' : 'unique constraint'}`),
    ...all(`select m.type, m.name, m.sql from sqlite_master m where m.type in ('index', 'view', 'trigger') and m.sql is not null and ${user}`).map(
      (r) => `${r.type} ${r.name}: ${squash(r.sql as string)}`,
    ),
  ]
  return lines.sort()
}
