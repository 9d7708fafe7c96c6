// An app on libSQL (@libsql/client) with a local file: its client reads the history at boot, and the revisions run
// under the SQLite lock folder on a connection of boot-migrate's own on the same file.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createClient, type Client } from '@libsql/client'
import { drizzle } from 'drizzle-orm/libsql'
import { migrate as drizzleMigrate } from 'drizzle-orm/libsql/migrator'
import { drizzleFolder, truncatedCopy } from './drizzle-fixtures.js'
import { afterAll, describe, expect, it } from 'vitest'
import { createMigrator, MigrationError } from '../src/index.js'
import { roundTrip } from '../src/testing.js'
import { captureLog, revisions, root, type WorkerRun } from './helpers.js'
import { freshFile, open, tables } from './sqlite-helpers.js'
import { eventually, failure, quiet } from './contract/support.js'
import { startNode, workers } from './faults/helpers.js'

const clients: Client[] = []
afterAll(() => {
  for (const c of clients) c.close()
})

/** The app's libSQL client on a file; `statements` records what is sent through it. */
function appClient(url: string): { client: Client; statements: string[] } {
  const client = createClient({ url })
  clients.push(client)
  const statements: string[] = []
  const execute = client.execute.bind(client) as (s: unknown, a?: unknown) => ReturnType<Client['execute']>
  client.execute = ((s: string | { sql: string }, a?: unknown) => {
    statements.push(typeof s === 'string' ? s : s.sql)
    return execute(s, a)
  }) as Client['execute']
  return { client, statements }
}

const twoTables = () =>
  revisions({
    '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
    '0002_b.sql': "-- migrate:up\ncreate table b (x int);\ninsert into b values (2);\n",
  })

const reversible = {
  '0001_users.sql': '-- migrate:up\ncreate table users (id integer primary key, email text);\n-- migrate:down\ndrop table users;\n',
  '0002_idx.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\ndrop index users_email;\n',
}

/** Starts test/workers/libsql-migrate.mjs: a process with its own libSQL client on the file. */
function libsqlWorker(options: Record<string, unknown>, nodeArgs: string[] = []): Promise<WorkerRun> {
  const child = spawn(process.execPath, [...nodeArgs, join(root, 'test/workers/libsql-migrate.mjs')], {
    env: { ...process.env, BM_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stdout += d))
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      const line = (tag: string) => stdout.split('\n').find((l) => l.startsWith(tag))?.slice(tag.length)
      const r = line('RESULT ')
      const e = line('ERROR ')
      resolve({ code, signal, stdout, ...(r ? { result: JSON.parse(r) } : {}), ...(e ? { error: JSON.parse(e) } : {}) })
    }),
  )
}

describe('an @libsql/client Client on a local file', () => {
  it('applies pending revisions and records each in the history', async () => {
    const file = await freshFile()
    const { client } = appClient(`file:${file}`)
    const result = await createMigrator({ client, dir: await twoTables(), ...quiet }).run()
    expect(result).toMatchObject({ applied: [{ id: '0001' }, { id: '0002' }], current: '0002' })
    const db = open(file)
    expect(tables(db)).toEqual(['a', 'b', 'boot_migrate_history'])
    expect(db.prepare('select id, state from boot_migrate_history order by id').all()).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
    // The app's client sees the migrated schema at once.
    expect((await client.execute('select x from b')).rows.map((r) => r.x)).toEqual([2])
  })

  it("runs exactly one statement on the app's client when nothing is pending, and leaves no lock folder", async () => {
    const file = await freshFile()
    const dir = await twoTables()
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    const app = appClient(`file:${file}`)
    const result = await createMigrator({ client: app.client, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, current: '0002' })
    expect(app.statements).toEqual(['select id, checksum, state from "boot_migrate_history"'])
    const { existsSync } = await import('node:fs')
    expect(existsSync(`${file}.lock`)).toBe(false)
  })

  it('two processes with their own libSQL clients starting at once apply each revision once', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_runs.sql': "-- migrate:up\ncreate table runs (id text);\ninsert into runs values ('0001');\n",
      // Long enough for the other process to arrive while the lock is held.
      '0002_slow.mjs': "export async function up({ query }) {\n  await new Promise((r) => setTimeout(r, 300))\n  await query(\"insert into runs values ('0002')\")\n}\n",
      '0003_last.sql': "-- migrate:up\ninsert into runs values ('0003');\n",
    })
    const runs = await Promise.all([0, 1].map(() => libsqlWorker({ libsqlUrl: `file:${file}`, dir })))
    for (const r of runs) {
      expect(r.error, r.stdout).toBeUndefined()
      expect(r.result?.current, r.stdout).toBe('0003')
    }
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0001', '0002', '0003'])
    const db = open(file)
    expect(db.prepare('select id from runs order by id').all()).toEqual([{ id: '0001' }, { id: '0002' }, { id: '0003' }])
    expect(db.prepare('select id, state from boot_migrate_history order by id').all()).toEqual(
      ['0001', '0002', '0003'].map((id) => ({ id, state: 'applied' })),
    )
  })

  it("waits at boot while another process's write locks the file (libSQL's client does not wait for locks), then applies", async () => {
    const file = await freshFile()
    const dir = await twoTables()
    await createMigrator({ url: `sqlite:${file}`, dir, to: '0001', ...quiet }).run()
    const blocker = startNode(workers.sqliteBlocker, {}, { BM_FILE: file, BM_BLOCK_WHEN: 'select 1', BM_LOCK_MODE: 'EXCLUSIVE' })
    await blocker.printed('LOCKED')
    const log = captureLog()
    const m = createMigrator({ client: appClient(`file:${file}`).client, dir, logger: log.logger })
    const run = m.run()
    try {
      await expect.poll(() => m.health().status, eventually).toBe('waiting-for-database')
      expect(log.text()).toMatch(/is locked by another connection \((SQLITE_BUSY: )?database is locked\); retrying/)
    } finally {
      blocker.child.kill('SIGUSR2')
    }
    await blocker.exited()
    await expect(run).resolves.toMatchObject({ applied: [{ id: '0002' }], current: '0002' })
  })

  it('gives up on a file locked past connectTimeout with DATABASE_UNREACHABLE that says another connection held it', async () => {
    const file = await freshFile()
    const dir = await twoTables()
    const blocker = startNode(workers.sqliteBlocker, {}, { BM_FILE: file, BM_BLOCK_WHEN: 'select 1', BM_LOCK_MODE: 'EXCLUSIVE' })
    await blocker.printed('LOCKED')
    try {
      const error = await failure(createMigrator({ client: appClient(`file:${file}`).client, dir, connectTimeout: 1000, ...quiet }).run())
      expect(error.code).toBe('DATABASE_UNREACHABLE')
      expect(error.message).toMatch(/after trying for 1s \(connectTimeout, --connect-timeout in the CLI\): (SQLITE_BUSY: )?database is locked\. Another connection held the database locked all that time/)
    } finally {
      blocker.child.kill('SIGUSR2')
    }
    await blocker.exited()
    expect(tables(open(file))).toEqual([])
  })

  it('rolls a failing revision back and names its file and line', async () => {
    const file = await freshFile()
    const { client } = appClient(`file:${file}`)
    const dir = await revisions({
      '0001_ok.sql': '-- migrate:up\ncreate table ok (x int);\n',
      '0002_bad.sql': '-- migrate:up\ncreate table half (x int);\n\ninsert into half\n  values (no_such_column);\n',
    })
    const error = await failure(createMigrator({ client, dir, transaction: 'each', ...quiet }).run())
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 4 })
    expect(error.message).toContain('0002_bad.sql:4')
    expect(error.message).toContain('no such column: no_such_column')
    expect(error.message).toContain('rolled back')
    const db = open(file)
    expect(tables(db)).toEqual(['boot_migrate_history', 'ok'])
    expect(db.prepare('select id from boot_migrate_history').all()).toEqual([{ id: '0001' }])
  })

  it('migrates in a process where better-sqlite3 cannot be found: the revisions run on libSQL\'s own driver', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n',
      '0002_fn.mjs': "export async function up({ query }) {\n  await query('insert into a values (?)', [2])\n}\n",
    })
    const withoutIt = ['--import', join(root, 'test/workers/without-better-sqlite3.mjs')]
    const run = await libsqlWorker({ libsqlUrl: `file:${file}`, dir }, withoutIt)
    expect(run.error, run.stdout).toBeUndefined()
    expect(run.result?.applied.map((a) => a.id)).toEqual(['0001', '0002'])
    expect(open(file).prepare('select x from a order by x').pluck().all()).toEqual([1, 2])
  })

  it('rebuilds a parent table with foreign keys off without deleting the rows of its cascading children', async () => {
    const file = await freshFile()
    const { client } = appClient(`file:${file}`)
    const dir = await revisions({
      '0001_schema.sql':
        '-- migrate:up\n' +
        'create table authors (id integer primary key, name text not null);\n' +
        'create table books (id integer primary key, author_id integer not null references authors (id) on delete cascade, title text not null);\n' +
        "insert into authors values (1, 'Le Guin'), (2, 'Lem');\n" +
        "insert into books values (1, 1, 'The Dispossessed'), (2, 2, 'Solaris');\n",
      '0002_rebuild.sql':
        '-- migrate:up\n' +
        'PRAGMA foreign_keys=OFF;\n' +
        "CREATE TABLE `__new_authors` (`id` integer PRIMARY KEY NOT NULL, `name` text NOT NULL, `country` text DEFAULT 'unknown' NOT NULL);\n" +
        'INSERT INTO `__new_authors`("id", "name") SELECT "id", "name" FROM `authors`;\n' +
        'DROP TABLE `authors`;\n' +
        'ALTER TABLE `__new_authors` RENAME TO `authors`;\n' +
        'PRAGMA foreign_keys=ON;\n',
    })
    expect(await createMigrator({ client, dir, ...quiet }).run()).toMatchObject({ current: '0002' })
    expect((await client.execute('select title from books order by id')).rows.map((r) => r.title)).toEqual(['The Dispossessed', 'Solaris'])
    // libSQL turns foreign keys on for every connection: the rebuilt table is still referenced.
    await expect(client.execute("insert into books values (3, 99, 'Nobody')")).rejects.toThrow(/FOREIGN KEY constraint failed/)
  })

  it('reverts the last revision with its down script', async () => {
    const { client } = appClient(`file:${await freshFile()}`)
    const dir = await revisions(reversible)
    await createMigrator({ client, dir, ...quiet }).run()
    expect(await createMigrator({ client, dir, ...quiet }).down()).toMatchObject({ reverted: [{ id: '0002' }], current: '0001' })
    expect((await client.execute("select name from sqlite_master where type = 'index' and sql is not null")).rows).toEqual([])
  })

  it('passes the round-trip helper (boot-migrate/testing) given the client', async () => {
    const { client } = appClient(`file:${await freshFile()}`)
    expect(await roundTrip({ client, dir: await revisions(reversible) })).toEqual({ checked: ['0001', '0002'] })
  })

  it('works as the client of a drizzle database (drizzle-orm/libsql)', async () => {
    const file = await freshFile()
    const { client, statements } = appClient(`file:${file}`)
    const db = drizzle(client)
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      // A function revision gets a drizzle database on the migration connection, inside its transaction.
      '0002_fn.mjs': "import { sql } from 'drizzle-orm'\nexport async function up({ db }) {\n  await db.run(sql`insert into a values (${7})`)\n}\n",
    })
    expect(await createMigrator({ db, dir, ...quiet }).run()).toMatchObject({ current: '0002' })
    expect((await client.execute('select x from a')).rows.map((r) => r.x)).toEqual([7])
    statements.length = 0
    expect(await createMigrator({ db, dir, ...quiet }).run()).toMatchObject({ applied: [], upToDate: true })
    expect(statements).toHaveLength(1)
  })

  it("takes over the history drizzle's libSQL migrator wrote and applies only the newer migration", async () => {
    const file = await freshFile()
    const { client } = appClient(`file:${file}`)
    const db = drizzle(client)
    const dir = await drizzleFolder('sqlite')
    await drizzleMigrate(db, { migrationsFolder: await truncatedCopy(dir, 2) })
    const result = await createMigrator({ db, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect((await client.execute('select id from boot_migrate_history order by id')).rows.map((r) => r.id)).toEqual(['0000', '0001', '0002'])
    expect(await createMigrator({ db, dir, ...quiet }).status()).toMatchObject({ pending: [] })
  })

  it('refuses a client on a remote libSQL server (Turso) before sending anything, and says why', async () => {
    const client = createClient({ url: 'libsql://example-db.turso.io', authToken: 'secret-token-123' })
    clients.push(client)
    const error = await failure(createMigrator({ client, dir: await twoTables(), ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(error.message).toContain('remote libSQL server')
    expect(error.message).toContain('file:')
    expect(error.message).not.toContain('secret-token-123')
  })

  it('refuses a closed client at once instead of retrying it as an unreachable database', async () => {
    const { client } = appClient(`file:${await freshFile()}`)
    client.close()
    expect(await failure(createMigrator({ client, dir: await twoTables(), ...quiet }).run())).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('is closed') })
  })

  it('refuses an in-memory libSQL client when there is work, since no second connection can reach its database', async () => {
    const app = appClient(':memory:')
    const error = await failure(createMigrator({ client: app.client, dir: await twoTables(), ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(error.message).toContain('in-memory')
    expect((await app.client.execute("select name from sqlite_master where type = 'table'")).rows).toEqual([])
  })
})

describe('ctx.batch through an @libsql/client Client', () => {
  it("backfills in batches on libSQL's native connection, counting the rows each batch changed", async () => {
    const file = await freshFile()
    const { client } = appClient(`file:${file}`)
    const events: Array<{ batches: number; rows: number }> = []
    const migrator = createMigrator({
      client,
      migrations: [
        { id: '0001', up: `create table t (id integer primary key, v int);\ninsert into t (id) values ${Array.from({ length: 250 }, (_, i) => `(${i + 1})`).join(', ')};` },
        { id: '0002', transaction: false, up: async (ctx) => void (await ctx.batch('update t set v = id * 2 where id in (select id from t where v is null limit $size)', { size: 100 })) },
      ],
      ...quiet,
    })
    migrator.on('batch:progress', (e) => events.push({ batches: e.batches, rows: e.rows }))
    await migrator.run()
    expect(events).toEqual([
      { batches: 1, rows: 100 },
      { batches: 2, rows: 200 },
      { batches: 3, rows: 250 },
    ])
    expect((await client.execute('select count(*) as n from t where v = id * 2')).rows[0]!.n).toBe(250)
  })
})
