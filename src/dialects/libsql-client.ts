import { MigrationError } from '../errors.js'

/** What boot-migrate uses of an `@libsql/client` Client (typed here, so that the package is needed only by apps that use it). */
export interface LibsqlClient {
  protocol: string
  closed: boolean
  execute(stmt: { sql: string; args: unknown[] }): Promise<{ columns: string[]; rows: ArrayLike<unknown>[]; rowsAffected?: number }>
  batch(stmts: unknown[], mode?: string): Promise<unknown>
  transaction(mode?: string): Promise<unknown>
  executeMultiple(sql: string): Promise<void>
}

/** An `@libsql/client` Client, told by its shape: execute, batch, transaction, executeMultiple and a `protocol`. */
export function isLibsqlClient(c: unknown): c is LibsqlClient {
  if (typeof c !== 'object' || c === null) return false
  const o = c as Record<string, unknown>
  return (
    typeof o.execute === 'function' &&
    typeof o.batch === 'function' &&
    typeof o.transaction === 'function' &&
    typeof o.executeMultiple === 'function' &&
    typeof o.protocol === 'string'
  )
}

/**
 * Refuses a client that does not open a local file. The migration lock on SQLite is a folder next to the
 * database file (sqlite-lock.ts): a remote libSQL server (Turso, `libsql://`, `http(s)://`, `ws(s)://`) has no
 * file this process can lock, and no lock the server offers holds across replicas.
 */
export function localLibsql(client: LibsqlClient): LibsqlClient {
  if (client.protocol !== 'file')
    throw new MigrationError(
      'INVALID_OPTIONS',
      `This @libsql/client Client talks to a remote libSQL server (protocol "${client.protocol}"): boot-migrate migrates libSQL through local files only ` +
        '(createClient({ url: "file:…" })), because its migration lock is a folder next to the database file and a remote server offers no lock that holds ' +
        'across every process that migrates. Migrate a remote database from one place (a deploy step or a single job running `turso db shell` or ' +
        'drizzle-kit) with a tool that runs once.',
    )
  return client
}
