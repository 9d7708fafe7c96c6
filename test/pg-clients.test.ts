// What node-postgres and PGlite bring beyond the contract suite (test/contract/, targets `node-postgres` and
// `pglite`): drizzle databases built on them as `db`, and PGlite's lock among the callers of one process.
import { PGlite } from '@electric-sql/pglite'
import { sql as dsql } from 'drizzle-orm'
import { drizzle as drizzleNodePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { createMigrator, type RevisionInput } from '../src/index.js'
import { drizzleFolder } from './drizzle-fixtures.js'
import { eventually } from './contract/support.js'
import { client, freshDatabase, revisions } from './helpers.js'

const quiet = { logger: false as const }
const folder = drizzleFolder('postgresql')
const closers: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const c of closers.splice(0)) await c().catch(() => undefined)
})

/** A revision that writes through ctx.db inside its transaction, nests a drizzle transaction, then fails. */
const failingDataRevision: RevisionInput = {
  id: '2',
  async up(ctx) {
    const db = ctx.db as { execute(q: unknown): Promise<unknown>; transaction(fn: (tx: { execute(q: unknown): Promise<unknown> }) => Promise<void>): Promise<void> }
    await db.execute(dsql`insert into t values (1)`)
    await db.transaction(async (tx) => void (await tx.execute(dsql`insert into t values (2)`)))
    throw new Error('data check failed after the nested transaction')
  },
}

const clients = {
  async 'node-postgres'() {
    const url = await freshDatabase()
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    pool.on('error', () => undefined)
    closers.push(() => pool.end())
    const count = async (text: string) => (await pool.query<{ n: number }>(text)).rows
    return { db: drizzleNodePg(pool), count }
  },
  async pglite() {
    const instance = new PGlite()
    closers.push(() => instance.close())
    const count = async (text: string) => (await instance.query<{ n: number }>(text)).rows
    return { db: drizzlePglite(instance), count }
  },
}

describe.each(Object.keys(clients) as Array<keyof typeof clients>)('a drizzle database on %s as db', (name) => {
  it('applies a drizzle-kit folder, then boots with nothing to do', async () => {
    const { db, count } = await clients[name]()
    const dir = await folder
    expect((await createMigrator({ db, dir, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['0000', '0001', '0002'])
    expect(await count("select count(*)::int as n from pg_indexes where indexname = 'posts_user_id'")).toEqual([{ n: 1 }])
    expect(await createMigrator({ db, dir, ...quiet }).run()).toMatchObject({ upToDate: true, current: '0002' })
  })

  it("gives function revisions ctx.db inside the revision's transaction; drizzle's transaction() there is a savepoint, never an early commit", async () => {
    const { db, count } = await clients[name]()
    const migrations = [{ id: '1', up: 'create table t (x int)' }, failingDataRevision]
    await expect(createMigrator({ db, migrations, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED', revision: '2' })
    expect(await count('select count(*)::int as n from t')).toEqual([{ n: 0 }])
    expect(await count('select count(*)::int as n from boot_migrate_history')).toEqual([{ n: 1 }])
  })
})

describe('node-postgres: a Client as client', () => {
  it("migrates on a connection of its own, leaves the app's Client open, and stop() cancels the statement in flight (pg_cancel_backend)", async () => {
    const url = await freshDatabase()
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    closers.push(() => app.end())
    // Ten minutes of sleep: stop() can only return within the test's time by cancelling it.
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table a (x int);\nselect pg_sleep(600);\ncreate table b (x int);\n' })
    const migrator = createMigrator({ client: app, dir, ...quiet })
    const sql = client(url)
    const sleeping = async () =>
      (await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%pg_sleep(600)%'`)[0]!.n
    migrator.start()
    await expect.poll(sleeping, eventually).toBe(1)

    await migrator.stop()
    expect(await sleeping()).toBe(0)
    await expect(migrator.ready).rejects.toMatchObject({ code: 'ABORTED', revision: '0001' })
    expect((await app.query("select to_regclass('a') as a, (select count(*)::int from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())) as locks")).rows).toEqual([{ a: null, locks: 0 }])
  })
})

describe('node-postgres: the migration backend is terminated inside a transactional revision', () => {
  it('rejects with CONNECTION_LOST, commits none of the revision and frees the lock', async () => {
    const url = await freshDatabase()
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    pool.on('error', () => undefined)
    closers.push(() => pool.end())
    const inserts = Array.from({ length: 100 }, (_, i) => `insert into t values (${i + 1});`)
    inserts.splice(50, 0, 'select pg_terminate_backend(pg_backend_pid());')
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_fill.sql': `-- migrate:up\n${inserts.join('\n')}\n` })
    const error = await createMigrator({ client: pool, dir, ...quiet })
      .run()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'MigrationError', code: 'CONNECTION_LOST' })
    const sql = client(url)
    expect(await sql`select count(*)::int as n from t`).toEqual([{ n: 0 }])
    expect(await sql`select id, state from boot_migrate_history order by id`).toEqual([{ id: '0001', state: 'applied' }])
    expect(await sql`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`).toEqual([{ n: 0 }])
  })
})

describe('PGlite: one instance, one process', () => {
  it('a second migrator on the same instance waits for the lock the first holds (the advisory lock alone would let it in), then finds nothing to do', async () => {
    const instance = new PGlite()
    closers.push(() => instance.close())
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    let started!: () => void
    const running = new Promise<void>((r) => (started = r))
    // Outside a transaction, so the instance stays free for the second migrator's read while the first holds the lock.
    const migrations: RevisionInput[] = [
      {
        id: '1',
        transaction: false,
        async up({ exec }) {
          await exec('create table a (x int)')
          started()
          await released
        },
      },
    ]
    const first = createMigrator({ client: instance, migrations, instanceId: 'first', ...quiet })
    first.start()
    await running
    const second = createMigrator({ client: instance, migrations, instanceId: 'second', ...quiet })
    const waits: string[] = []
    const waiting = new Promise<void>((r) => second.on('lock:wait', (e: { holder?: string }) => (waits.push(String(e.holder)), r())))
    second.start()
    await waiting
    expect(second.health().status).toBe('waiting-for-lock')
    expect(waits[0]).toContain('first')
    release()
    await expect(first.ready).resolves.toMatchObject({ applied: [{ id: '1' }] })
    await expect(second.ready).resolves.toMatchObject({ applied: [], current: '1' })
    expect((await instance.query("select count(*)::int as n from pg_locks where locktype = 'advisory'")).rows).toEqual([{ n: 0 }])
  })

  it("leaves the app's session (the instance's one backend) without the lock and the timeouts the migration set", async () => {
    const instance = new PGlite()
    closers.push(() => instance.close())
    await createMigrator({ client: instance, migrations: [{ id: '1', up: 'create table a (x int)' }], ...quiet }).run()
    const settings = await instance.query("select current_setting('lock_timeout') as lock_timeout, (select count(*)::int from pg_locks where locktype = 'advisory') as locks")
    expect(settings.rows).toEqual([{ lock_timeout: '0', locks: 0 }])
  })

  it('refuses migrationUrl: the instance is reachable only through itself', async () => {
    const instance = new PGlite()
    closers.push(() => instance.close())
    await expect(createMigrator({ client: instance, migrationUrl: 'postgres://x@127.0.0.1/y', migrations: [], ...quiet }).run()).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('migrationUrl'),
    })
  })
})

describe('an unknown client', () => {
  it('is refused with INVALID_OPTIONS listing every client accepted', async () => {
    const error = await createMigrator({ client: { query() {} }, migrations: [], ...quiet })
      .run()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    for (const name of ['postgres.js', 'node-postgres (pg) Pool or Client', 'PGlite', 'better-sqlite3', 'mysql2']) expect((error as Error).message).toContain(name)
  })
})

describe("pooler: 'transaction' with a node-postgres Pool", () => {
  const pool = async () => {
    const url = await freshDatabase()
    const p = new pg.Pool({ connectionString: url, max: 2 })
    p.on('error', () => undefined)
    closers.push(() => p.end())
    return { p, url }
  }
  const migrations = [{ id: '1', up: 'create table a (x int)' }]

  it('is refused with INVALID_OPTIONS without migrationUrl, and nothing is created', async () => {
    const { p } = await pool()
    await expect(createMigrator({ client: p, pooler: 'transaction', migrations, ...quiet }).run()).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('migrationUrl'),
    })
    expect((await p.query("select count(*)::int as n from pg_tables where tablename in ('a', 'boot_migrate_history')")).rows).toEqual([{ n: 0 }])
  })

  it('migrates on the direct migrationUrl, the pool serving only the boot check', async () => {
    const { p, url } = await pool()
    expect((await createMigrator({ client: p, migrationUrl: url, pooler: 'transaction', migrations, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['1'])
    expect(await createMigrator({ client: p, migrationUrl: url, pooler: 'transaction', migrations, ...quiet }).run()).toMatchObject({ upToDate: true, current: '1' })
  })
})
