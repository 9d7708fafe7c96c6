import { MigrationError, messageOf } from '../errors.js'
import type { Executor } from '../core/connection.js'
import type { Dialect } from './dialect.js'
import type { sqliteBase } from './sqlite.js'
import type { SqliteFile } from './sqlite-url.js'
import { localLibsql, type LibsqlClient } from './libsql-client.js'

const describe = (f: SqliteFile) => `sqlite:${f.path}`

const codeOf = (e: unknown) => {
  const o = e as { code?: unknown; extendedCode?: unknown } | null
  return String(o?.extendedCode ?? o?.code ?? '')
}

/**
 * A libSQL error as better-sqlite3 words it: libSQL prefixes its message with the code ("SQLITE_ERROR: no such
 * table: x") and puts the extended code apart. The shared SQLite rules (sqliteBase) then read both drivers alike.
 */
function asSqliteError(e: unknown): unknown {
  if (!(e instanceof Error) || (e as Error).name !== 'LibsqlError') return e
  const out = new Error(e.message.replace(/^SQLITE_\w+: /, '')) as Error & { code: string }
  out.code = codeOf(e)
  return out
}

function executor(client: LibsqlClient): Executor {
  return {
    async query<Row>(text: string, params: readonly unknown[] = []) {
      const rs = await client.execute({ sql: text, args: [...params] })
      // Rows are arrays with named properties too: plain objects keep only the names.
      return rs.rows.map((row) => Object.fromEntries(rs.columns.map((c, i) => [c, row[i]]))) as Row[]
    },
    async batch(statements) {
      for (const s of statements) await client.execute({ sql: s, args: [] })
    },
    run: async (text) => ({ rows: Number((await client.execute({ sql: text, args: [] })).rowsAffected ?? 0) }),
  }
}

/**
 * SQLite through an app's `@libsql/client` Client on a local file. The app's client answers the one query of the
 * no-op boot (`client.execute`); when there is work, a SQLite dialect of our own is opened on the same file with
 * libSQL's native driver (libsql-driver.ts): it takes the lock folder and runs the revisions on a connection the
 * app's queries cannot land in, exactly as for a better-sqlite3 client. Which file it is, libSQL does not say but
 * through `PRAGMA database_list`, asked only then, so the no-op boot stays one query.
 */
export async function libsqlDialect(
  client: LibsqlClient,
  base: ReturnType<typeof sqliteBase>,
  onFile: (file: SqliteFile) => Promise<Dialect>,
  migrationFile: SqliteFile | undefined,
): Promise<Dialect> {
  localLibsql(client)
  // A closed client fails every call as if the database were unreachable, which retrying cannot mend.
  if (client.closed) throw new MigrationError('INVALID_OPTIONS', 'The @libsql/client Client passed as "client" is closed (client.close() was called): pass an open one.')
  const app = executor(client)
  let file: SqliteFile | undefined = migrationFile
  let own: Promise<Dialect> | undefined

  async function fileOfClient(): Promise<SqliteFile> {
    const rows = await app.query<{ name: string; file: string }>('PRAGMA database_list')
    const path = rows.find((r) => r.name === 'main')?.file
    if (!path)
      throw new MigrationError(
        'INVALID_OPTIONS',
        'This @libsql/client Client holds an in-memory database, which exists only on its own connection: boot-migrate cannot open a second one on it to ' +
          'migrate under its lock. Pass the database as a file (createClient({ url: "file:app.db" })), or migrate it with url: ":memory:" on a better-sqlite3 client.',
      )
    return { path, memory: false, readonly: false }
  }
  const dialect = () =>
    (own ??= (async () => {
      file ??= await fileOfClient()
      return onFile(file)
    })())

  return {
    ...base,
    get display() {
      return file ? `libsql:${describe(file).slice('sqlite:'.length)}` : 'the libSQL database of the client'
    },
    app,
    classify: (e) => base.classify(asSqliteError(e)),
    effectPresent: (e) => base.effectPresent(asSqliteError(e)),
    schemaSnapshot: async () => (await dialect()).schemaSnapshot(),
    script: (work) => base.scriptFor(work, file ? describe(file) : 'a libSQL database'),
    connect: async () => {
      try {
        return await (await dialect()).connect()
      } catch (e) {
        if (e instanceof MigrationError) throw e
        throw new MigrationError('DATABASE_UNREACHABLE', `Cannot open the libSQL database file of the client: ${messageOf(e)}`, { cause: e })
      }
    },
    async close() {
      if (own) await (await own.catch(() => undefined))?.close()
    },
  }
}
