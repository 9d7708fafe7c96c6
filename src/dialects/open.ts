import { MigrationError } from '../errors.js'
import type { MigrateOptions } from '../types.js'
import type { Dialect, DialectConfig } from './dialect.js'
import { postgresDialect } from './postgres.js'

const isPostgresUrl = (u: string) => /^postgres(ql)?:\/\//i.test(u)

/** A postgres.js `sql` is a function with `unsafe`, `begin` and parsed `options`. */
const isPostgresClient = (c: unknown): boolean =>
  typeof c === 'function' && typeof (c as { unsafe?: unknown }).unsafe === 'function' && typeof (c as { begin?: unknown }).begin === 'function'

/** Picks the dialect from the URL or the client's shape. */
export async function openDialect(options: MigrateOptions, config: DialectConfig): Promise<Dialect> {
  const { url, client, migrationUrl } = options
  if (client !== undefined) {
    if (isPostgresClient(client)) return postgresDialect({ client: client as never, ...(migrationUrl ? { migrationUrl } : {}) }, config)
    throw new MigrationError('INVALID_OPTIONS', 'The "client" option takes a postgres.js sql instance.')
  }
  if (url && isPostgresUrl(url)) return postgresDialect({ url, ...(migrationUrl ? { migrationUrl } : {}) }, config)
  throw new MigrationError('INVALID_OPTIONS', url ? `Unsupported database URL scheme in "${url.split(':')[0]}:…" (use postgres://).` : 'Pass "url" or "client".')
}
