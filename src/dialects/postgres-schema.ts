import type { PgQuery } from './pg-driver/driver.js'

const SYSTEM = `('pg_catalog', 'information_schema', 'pg_toast')`

/**
 * The user schema as sorted lines, for comparing before and after a revision and its down script:
 * tables, columns with types/nullability/defaults, indexes, constraints, views, sequences, enums, functions.
 * The history table (and its progress table) is left out: it changes on every run by design.
 */
export async function pgSchemaSnapshot(query: PgQuery, schema: string, table: string): Promise<string[]> {
  const skip = [schema, table]
  const q = (text: string, params: string[] = []) => Promise.resolve(query<{ line: string }>(text, params)).then((rows) => rows.map((r) => r.line))
  const notHistory = (s: string, t: string) => `not (${s} = $1 and ${t} in ($2::text, $2::text || '_progress'))`
  const parts = await Promise.all([
    q(`select format('table %I.%I', schemaname, tablename) as line from pg_tables
        where schemaname not in ${SYSTEM} and ${notHistory('schemaname', 'tablename')}`, skip),
    q(`select format('column %I.%I.%I %s %s%s', table_schema, table_name, column_name,
                     case when data_type = 'USER-DEFINED' then udt_name else data_type end ||
                     coalesce('(' || character_maximum_length || ')', ''),
                     case is_nullable when 'YES' then 'null' else 'not null' end,
                     coalesce(' default ' || column_default, '')) as line
         from information_schema.columns
        where table_schema not in ${SYSTEM} and ${notHistory('table_schema', 'table_name')}`, skip),
    q(`select format('index %I.%I: %s', schemaname, indexname, indexdef) as line from pg_indexes
        where schemaname not in ${SYSTEM} and ${notHistory('schemaname', 'tablename')}`, skip),
    q(`select format('constraint %I.%I.%I: %s', n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid)) as line
         from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname not in ${SYSTEM} and ${notHistory('n.nspname', 'c.relname')}`, skip),
    q(`select format('view %I.%I: %s', schemaname, viewname, definition) as line from pg_views
        where schemaname not in ${SYSTEM}`),
    q(`select format('sequence %I.%I', sequence_schema, sequence_name) as line from information_schema.sequences
        where sequence_schema not in ${SYSTEM}`),
    q(`select format('enum %I.%I: %s', n.nspname, t.typname, string_agg(e.enumlabel, ', ' order by e.enumsortorder)) as line
         from pg_type t join pg_enum e on e.enumtypid = t.oid join pg_namespace n on n.oid = t.typnamespace
        group by n.nspname, t.typname`),
    q(`select format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as line
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ${SYSTEM}
          and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')`),
  ])
  return parts.flat().sort()
}
