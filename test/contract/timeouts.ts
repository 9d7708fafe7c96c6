import type { Target } from './targets.js'

/** The targets whose database cancels a statement that runs too long: not SQLite, not PGlite's single backend. */
export const keepsTimeouts = (t: Target) => t.name !== 'sqlite' && t.label !== 'pglite'

/** A statement that runs for `s` seconds on a target that keeps timeouts. */
export const sleepSql = (t: Target, s: number) => (t.name === 'mysql' ? `select sleep(${s})` : `select pg_sleep(${s})`)
