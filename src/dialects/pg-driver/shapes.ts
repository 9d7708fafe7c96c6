/**
 * How each PostgreSQL client is recognised, by shape alone: open.ts reads these to pick the dialect, so this
 * file imports no adapter and no driver (a no-op boot, and a bundle of another dialect, carry none of them).
 */

/** The parts of a node-postgres `Client` (or a pool's checked-out client) used here: structural, so `pg` need not be installed. */
export interface NodePgClientLike {
  query(text: string, params?: unknown[]): Promise<unknown>
  connect(): Promise<unknown>
  end(): Promise<void>
  on(event: 'error' | 'end', listener: (e?: unknown) => void): unknown
  removeListener(event: 'error' | 'end', listener: (e?: unknown) => void): unknown
  connectionParameters: Record<string, unknown>
  processID?: number | null
}

/** The parts of a node-postgres `Pool` used here. */
export interface NodePgPoolLike {
  query(text: string, params?: unknown[]): Promise<unknown>
  connect(): Promise<unknown>
  end(): Promise<void>
  options: Record<string, unknown>
  Client: new (config: Record<string, unknown>) => NodePgClientLike
  totalCount: number
}

export interface PGliteResults {
  rows: Array<Record<string, unknown>>
  affectedRows?: number
}

/** What runs statements on PGlite: the instance, or the object its `transaction()` hands out. */
export interface PGliteQueryable {
  query(text: string, params?: unknown[]): Promise<PGliteResults>
  exec(text: string): Promise<PGliteResults[]>
}

/** The parts of a PGlite instance used here: structural, so `@electric-sql/pglite` need not be installed. */
export interface PGliteLike extends PGliteQueryable {
  transaction<T>(work: (tx: PGliteQueryable) => Promise<T>): Promise<T>
  readonly closed: boolean
  waitReady: Promise<void>
}

const isObject = (c: unknown): c is Record<string, unknown> => typeof c === 'object' && c !== null
const fn = (o: Record<string, unknown>, ...names: string[]) => names.every((n) => typeof o[n] === 'function')

/** A postgres.js `sql` is a function with `unsafe`, `begin` and parsed `options`. */
export const isPostgresJs = (c: unknown): boolean =>
  typeof c === 'function' && typeof (c as { unsafe?: unknown }).unsafe === 'function' && typeof (c as { begin?: unknown }).begin === 'function'

/** A node-postgres `Pool`: `query`/`connect`/`end`, its `options` and the `Client` class it makes clients with. */
export const isNodePgPool = (c: unknown): c is NodePgPoolLike => isObject(c) && fn(c, 'query', 'connect', 'end', 'Client') && isObject(c.options) && typeof c.totalCount === 'number'

/** A node-postgres `Client` (or `PoolClient`): `query`/`connect` and its parsed `connectionParameters`. */
export const isNodePgClient = (c: unknown): c is NodePgClientLike => isObject(c) && fn(c, 'query', 'connect', 'end', 'on') && isObject(c.connectionParameters)

/** A PGlite instance: `query`, `exec`, `transaction`, and the `waitReady` promise of its WebAssembly start. */
export const isPGlite = (c: unknown): c is PGliteLike => {
  const o = c as Record<string, unknown> | null
  return isObject(o) && ['query', 'exec', 'transaction'].every((n) => typeof o[n] === 'function') && 'waitReady' in o && typeof o.closed === 'boolean'
}

/** Any PostgreSQL client boot-migrate takes. */
export const isPostgresClient = (c: unknown): boolean => isPostgresJs(c) || isNodePgPool(c) || isNodePgClient(c) || isPGlite(c)
