import type { Node } from './parser.js'

/** The one field of a node (`{ IndexStmt: {…} }` → ['IndexStmt', {…}]). */
export const kindOf = (n: Node | undefined): [string, Node] => {
  const k = n ? Object.keys(n)[0] : undefined
  return k ? [k, n![k] as Node] : ['', {}]
}

/** A table's key: `schema.name`, with `public.` left out so that `users` and `public.users` are one table. */
export const tableKey = (rel: Node | undefined): string => {
  if (!rel) return ''
  const schema = rel.schemaname as string | undefined
  return schema && schema !== 'public' ? `${schema}.${rel.relname}` : String(rel.relname)
}

/** A qualified name given as a list of String nodes (DROP TABLE's objects, type names). */
export const namesOf = (list: Node[] | undefined): string[] => (list ?? []).map((x) => String(kindOf(x)[1].sval ?? ''))

export const listKey = (list: Node[] | undefined): string => {
  const parts = namesOf(list)
  if (parts.length === 2 && parts[0] === 'public') parts.shift()
  return parts.join('.')
}

/** A column's type: its name without pg_catalog, its modifiers as numbers (varchar(20) → [20]) and whether it is an array. */
export interface ColumnType {
  name: string
  mods: number[]
  array: boolean
}

const ALIASES: Record<string, string> = { decimal: 'numeric', int: 'int4', integer: 'int4', bigint: 'int8', smallint: 'int2', 'character varying': 'varchar' }

export function typeOf(typeName: Node | undefined): ColumnType | undefined {
  if (!typeName) return undefined
  const names = namesOf(typeName.names as Node[])
  const raw = names[names.length - 1]?.toLowerCase() ?? ''
  const mods = ((typeName.typmods as Node[] | undefined) ?? []).map((m) => {
    const c = kindOf(m)[1]
    return Number(c.ival?.ival ?? c.ival ?? 0)
  })
  return { name: ALIASES[raw] ?? raw, mods, array: !!(typeName.arrayBounds as Node[] | undefined)?.length }
}

export const typeText = (t: ColumnType) => `${t.name}${t.mods.length ? `(${t.mods.join(',')})` : ''}${t.array ? '[]' : ''}`

/** Every node under `n`, depth first, with its kind. */
export function* walk(n: unknown): Generator<[string, Node]> {
  if (Array.isArray(n)) {
    for (const x of n) yield* walk(x)
    return
  }
  if (!n || typeof n !== 'object') return
  for (const [k, v] of Object.entries(n as Node)) {
    if (v && typeof v === 'object') {
      if (/^[A-Z]/.test(k) && !Array.isArray(v)) yield [k, v as Node]
      yield* walk(v)
    }
  }
}

/** The column a `col IS NOT NULL` expression tests, or undefined. */
export function notNullColumn(expr: Node | undefined): string | undefined {
  const [k, e] = kindOf(expr)
  if (k !== 'NullTest' || e.nulltesttype !== 'IS_NOT_NULL') return undefined
  const [ak, a] = kindOf(e.arg as Node)
  if (ak !== 'ColumnRef') return undefined
  const fields = namesOf(a.fields as Node[])
  return fields[fields.length - 1]
}
