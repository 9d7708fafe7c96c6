/**
 * Whether a value is a mysql2 Pool or Connection (promise or callback API). Apart from the dialect, so that telling
 * which database a client is for (open.ts) does not bring the MySQL dialect into a bundle of another one.
 */
export function isMysqlClient(c: unknown): boolean {
  if (typeof c !== 'object' || c === null) return false
  const o = c as Record<string, unknown>
  const config = (o.config ?? (o.connection as Record<string, unknown> | undefined)?.config ?? (o.pool as Record<string, unknown> | undefined)?.config) as Record<string, unknown> | undefined
  return typeof o.query === 'function' && typeof o.execute === 'function' && !!config && (typeof o.getConnection === 'function' || typeof o.beginTransaction === 'function')
}
