import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { captureLog, client, freshDatabase, revisions, root, runWorker, serverUrl, startWorker } from './helpers.js'
import { pgbouncerBinary, startPgbouncer } from './setup/pgbouncer.mjs'

const binary = pgbouncerBinary()
if (!binary) console.log('test/pooler.test.ts skipped: no pgbouncer binary on this machine (Debian: apt-get install pgbouncer; .ci/run installs it as root)')

type Bouncer = Awaited<ReturnType<typeof startPgbouncer>>

const nameOf = (url: string) => new URL(url).pathname.slice(1)

/** Queries and transactions PgBouncer passed to the server for one database, from its admin console. */
async function pooled(bouncer: Bouncer, database: string) {
  const admin = postgres(bouncer.admin, { max: 1, fetch_types: false, onnotice: () => undefined })
  try {
    const rows = await admin.unsafe<Array<{ database: string; total_query_count: string; total_xact_count: string }>>('show stats').simple()
    const row = rows.find((r) => r.database === database)
    return { queries: Number(row?.total_query_count ?? 0), transactions: Number(row?.total_xact_count ?? 0) }
  } finally {
    await admin.end({ timeout: 1 })
  }
}

const quiet = { logger: false } as const

describe.skipIf(!binary)("through PgBouncer in transaction mode, with pooler: 'transaction'", () => {
  let bouncer: Bouncer
  beforeAll(async () => {
    bouncer = await startPgbouncer(serverUrl())
  })
  afterAll(() => bouncer?.stop())

  /** A new database, and its URL through the pooler. */
  const fresh = async () => {
    const direct = await freshDatabase()
    return { direct, url: bouncer.url(nameOf(direct)), check: client(direct) }
  }
  const tables = async (sql: postgres.Sql) =>
    (await sql<Array<{ t: string }>>`select table_name as t from information_schema.tables where table_schema = 'public' order by 1`).map((r) => r.t)

  it('ten processes starting at once all succeed, one of them applies every revision in one transaction, each once', async () => {
    const db = await fresh()
    const dir = await revisions({
      '0001_runs.sql': "-- migrate:up\ncreate table runs (id text);\ninsert into runs values ('0001');\n",
      // Long enough for the other processes to arrive while the lock is held.
      '0002_slow.mjs': "export async function up({ query }) {\n  await new Promise((r) => setTimeout(r, 300))\n  await query(\"insert into runs values ('0002')\")\n}\n",
      '0003_last.sql': "-- migrate:up\ninsert into runs values ('0003');\n",
    })
    const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => runWorker({ url: db.url, dir, pooler: 'transaction', instanceId: `replica-${i}` })))
    for (const r of runs) {
      expect(r.error, r.stdout).toBeUndefined()
      expect(r.code, r.stdout).toBe(0)
      expect(r.stdout, r.stdout).not.toMatch(/^(warn|error) /m)
      expect(r.result?.current).toBe('0003')
    }
    const leaders = runs.filter((r) => r.result!.applied.length)
    expect(leaders.map((r) => r.result!.applied.map((a) => a.id))).toEqual([['0001', '0002', '0003']])
    expect(await db.check`select id from runs order by id`).toEqual([{ id: '0001' }, { id: '0002' }, { id: '0003' }])
    expect(await db.check`select id, state from boot_migrate_history order by id`).toEqual(['0001', '0002', '0003'].map((id) => ({ id, state: 'applied' })))
    // Committed in one transaction: the history rows carry its one start time.
    expect(await db.check`select count(distinct applied_at)::int as n from boot_migrate_history`).toEqual([{ n: 1 }])
  })

  it('a leader killed with SIGKILL mid-run leaves nothing of the run, and the next process applies it all', async () => {
    const db = await fresh()
    // Holds the second revision while it says 1; made outside the migration, so the test can change it.
    await db.check`create table knob as select 1 as hold`
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n',
      '0002_half.mjs':
        'export async function up({ exec, query, log }) {\n' +
        "  await exec('create table b (x int); insert into b values (1)')\n" +
        "  log('half written')\n" +
        "  while ((await query('select hold from knob'))[0].hold) await new Promise((r) => setTimeout(r, 50))\n" +
        '}\n',
      '0003_c.sql': '-- migrate:up\ncreate table c (x int);\n',
    })
    const first = startWorker({ url: db.url, dir, pooler: 'transaction', instanceId: 'first' })
    await first.printed('0002_half: half written')
    first.child.kill('SIGKILL')
    expect((await first.done).signal).toBe('SIGKILL')

    // 0001 was applied, and 0002 half-way, in the run's one transaction: none of it was committed.
    expect(await tables(db.check)).toEqual(['knob'])

    await db.check`update knob set hold = 0`
    const next = await runWorker({ url: db.url, dir, pooler: 'transaction', lockTimeout: 60_000 })
    expect(next.error, next.stdout).toBeUndefined()
    expect(next.result).toMatchObject({ current: '0003', applied: [{ id: '0001' }, { id: '0002' }, { id: '0003' }] })
    expect(await tables(db.check)).toEqual(['a', 'b', 'boot_migrate_history', 'c', 'knob'])
    expect(await db.check`select id, state from boot_migrate_history order by id`).toEqual(['0001', '0002', '0003'].map((id) => ({ id, state: 'applied' })))
  })

  it('a process waiting for the lock gives up after lockTimeout with LOCK_TIMEOUT naming the holder, which still completes', async () => {
    const db = await fresh()
    await db.check`create table knob as select 1 as hold`
    const dir = await revisions({
      '0001_wait.mjs':
        'export async function up({ query, log }) {\n' +
        "  log('holding')\n" +
        "  while ((await query('select hold from knob'))[0].hold) await new Promise((r) => setTimeout(r, 50))\n" +
        '}\n',
    })
    const first = startWorker({ url: db.url, dir, pooler: 'transaction', instanceId: 'the-leader' })
    await first.printed('0001_wait: holding')
    const log = captureLog()
    const error = await createMigrator({ url: db.url, dir, pooler: 'transaction', lockTimeout: 1_000, logger: log.logger })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toMatchObject({ code: 'LOCK_TIMEOUT' })
    // PgBouncer passes the client's application_name on to the server connection it lends.
    expect((error as Error).message).toMatch(/^Waited \d+s for the migration lock, held by pid \d+ \(boot-migrate the-leader, transaction open for \d+s, (active|idle in transaction)\)/)
    await db.check`update knob set hold = 0`
    expect((await first.done).result).toMatchObject({ current: '0001', applied: [{ id: '0001' }] })
  })

  it('the no-op boot sends one query through the pooler', async () => {
    const db = await fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    await createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet }).run()
    const before = await pooled(bouncer, nameOf(db.direct))

    const result = await createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, current: '0001' })
    const after = await pooled(bouncer, nameOf(db.direct))
    expect({ queries: after.queries - before.queries, transactions: after.transactions - before.transactions }).toEqual({ queries: 1, transactions: 1 })
  })

  it('refuses a no-transaction revision before anything runs, naming migrationUrl; with migrationUrl it runs', async () => {
    const db = await fresh()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently t_x on t (x);\n',
    })
    const error = await createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS', revision: '0002' })
    expect((error as Error).message).toMatch(/^Revision 0002_idx \(.*0002_idx\.sql\) must run outside a transaction \(CREATE INDEX CONCURRENTLY\)/)
    expect((error as Error).message).toContain("pooler: 'transaction'")
    expect((error as Error).message).toContain('Nothing was applied. Pass migrationUrl with a direct connection')
    // Not even 0001, nor the history table.
    expect(await tables(db.check)).toEqual([])

    // The way out the message names: the lock and the revisions on a direct connection, the boot check through the pooler.
    const result = await createMigrator({ url: db.url, migrationUrl: db.direct, dir, pooler: 'transaction', ...quiet }).run()
    expect(result.applied.map((a) => a.id)).toEqual(['0001', '0002'])
    expect(await db.check`select indexname from pg_indexes where tablename = 't'`).toEqual([{ indexname: 't_x' }])
  })

  it('takes the app\'s postgres.js client, even one that prepares statements, for the boot check', async () => {
    const db = await fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    // postgres.js prepares by default; PgBouncer 1.18 in transaction mode cannot route named prepared statements.
    const app = client(db.url)
    for (let i = 0; i < 2; i++) {
      const result = await createMigrator({ client: app, dir, pooler: 'transaction', ...quiet }).run()
      expect(result.current).toBe('0002')
    }
    expect(await tables(db.check)).toEqual(['a', 'b', 'boot_migrate_history'])
  })

  it('a failing revision is rolled back alone: the ones before it are committed, as on a direct connection', async () => {
    const db = await fresh()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_bad.sql': '-- migrate:up\ncreate table b (x int);\ninsert into nowhere values (1);\n',
    })
    const error = await createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002' })
    expect(await tables(db.check)).toEqual(['a', 'boot_migrate_history'])
    expect(await db.check`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'applied' }])
  })

  it('down reverts through the pooler, in one transaction with its history rows', async () => {
    const db = await fresh()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n-- migrate:down\ndrop table a;\n',
      '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n-- migrate:down\ndrop table b;\n',
    })
    const m = createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet })
    await m.run()
    const result = await createMigrator({ url: db.url, dir, pooler: 'transaction', ...quiet }).down({ to: 'base' })
    expect(result.reverted.map((r) => r.id)).toEqual(['0002', '0001'])
    expect(await tables(db.check)).toEqual(['boot_migrate_history'])
    expect(await db.check`select id from boot_migrate_history`).toEqual([])
  })

  it('the CLI takes --pooler transaction', async () => {
    const db = await fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'up', '--pooler', 'transaction', '--url', db.url, '--dir', dir], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(await db.check`select id from boot_migrate_history`).toEqual([{ id: '0001' }])
    const bad = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'up', '--pooler', 'statement', '--url', db.url, '--dir', dir], { encoding: 'utf8' })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain('"pooler" must be "transaction" or "none", got "statement" (string)')
  })
})

describe.skipIf(!binary)('through PgBouncer in transaction mode, without pooler mode', () => {
  // Round robin: each transaction goes to the server connection idle longest, as under load, where a
  // connection's statements land on whichever server connection is free.
  let bouncer: Bouncer
  beforeAll(async () => {
    bouncer = await startPgbouncer(serverUrl(), { server_round_robin: 1 })
  })
  afterAll(() => bouncer?.stop())

  it('refuses the session lock once its statements land on two server connections, and leaves no lock behind', async () => {
    const direct = await freshDatabase()
    const url = bouncer.url(nameOf(direct))
    // Two server connections in the pool: two transactions at once.
    const warm = postgres(url, { max: 2, prepare: false, fetch_types: false })
    await Promise.all([0, 1].map(() => warm.begin((tx) => tx`select pg_sleep(0.2)`)))
    await warm.end()

    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const log = captureLog()
    const error = await createMigrator({ url, dir, logger: log.logger })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect((error as Error).message).toMatch(/is not a session: its statements ran on two server connections \(backend \d+, then \d+\)/)
    expect((error as Error).message).toContain("Pass pooler: 'transaction' (--pooler transaction), or migrationUrl with a direct connection.")
    const check = client(direct)
    expect(await check`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`).toEqual([{ n: 0 }])
    expect(await check`select to_regclass('public.a') as a`).toEqual([{ a: null }])

    // The same pooler in pooler mode.
    const result = await createMigrator({ url, dir, pooler: 'transaction', ...quiet }).run()
    expect(result.applied.map((a) => a.id)).toEqual(['0001'])
  })
})

describe("pooler: 'transaction'", () => {
  it("warns, when about to take the lock, that a -pooler host or port 6543 may be a transaction pooler; pooler: 'none' silences it", async () => {
    const direct = await freshDatabase()
    const migrations = [{ id: '1', up: 'create table a (x int)' }]
    // A host that does not resolve: the warning comes before the connection is tried.
    const migrationUrl = 'postgres://postgres@ep-quiet-fog-123456-pooler.invalid:5432/app'
    for (const [pooler, warned] of [[undefined, true], ['none', false]] as const) {
      const log = captureLog()
      const error = await createMigrator({ url: direct, migrationUrl, migrations, connectTimeout: 300, logger: log.logger, ...(pooler ? { pooler } : {}) })
        .run()
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      expect(error).toMatchObject({ code: 'DATABASE_UNREACHABLE' })
      expect(log.text().includes('the migration connection may go through a transaction pooler')).toBe(warned)
    }
    const log = captureLog()
    await createMigrator({ url: direct, migrationUrl: 'postgres://postgres@127.0.0.1:6543/app', migrations, connectTimeout: 300, logger: log.logger })
      .run()
      .catch(() => undefined)
    expect(log.text()).toContain("its port is 6543, the port of Supabase's transaction pooler")
    expect(log.text()).toContain("pass pooler: 'transaction' (--pooler transaction), or migrationUrl with a direct connection")
  })


  it('is for PostgreSQL: refused with a SQLite URL', async () => {
    const error = await createMigrator({ url: 'sqlite::memory:', migrations: [{ id: '1', up: 'select 1' }], pooler: 'transaction', ...quiet })
      .run()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect((error as Error).message).toContain("pooler: 'transaction' is for PostgreSQL connections")
  })
})
