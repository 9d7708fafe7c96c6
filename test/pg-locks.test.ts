import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { deferred, eventually, gate } from './contract/support.js'
import { captureLog, client, freshDatabase, revisions, startWorker } from './helpers.js'

describe('the migration lock on PostgreSQL', () => {
  it('gives up after lockTimeout with LOCK_TIMEOUT naming the process that holds the lock, while that process still migrates', async () => {
    const url = await freshDatabase()
    const held = await gate()
    const dir = await revisions({ '0001_held.mjs': `export async function up() {\n  ${held.hold()}\n}\n` })
    const holder = startWorker({ url, dir, instanceId: 'replica-a' })
    await holder.printed('applying 0001_held')

    const log = captureLog()
    const error = await createMigrator({ url, dir, lockTimeout: 700, logger: log.logger }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'LOCK_TIMEOUT' })
    expect((error as Error).message).toContain('boot-migrate replica-a')
    expect(log.text()).toMatch(/waiting for the migration lock held by pid \d+ \(boot-migrate replica-a/)
    // It gave up on its own: the holder is still inside its revision.
    expect(holder.child.exitCode).toBeNull()
    await held.open()
    expect((await holder.done).code).toBe(0)
  })

  it('with a URL of its own, one connection serves the boot check, the lock and the revisions', async () => {
    const url = await freshDatabase()
    const held = await gate()
    const dir = await revisions({ '0001_held.mjs': `export async function up() {\n  ${held.hold()}\n}\n` })
    const worker = startWorker({ url, dir, instanceId: 'solo' })
    await worker.printed('applying 0001_held')
    // Every connection to this database but the one asking belongs to the migrating process.
    const sessions = await client(url, { max: 1 })`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`
    expect(sessions).toEqual([{ n: 1 }])
    await held.open()
    expect((await worker.done).code).toBe(0)
  })

  it('keys the lock by schema and table, so two apps in one database do not wait for each other', async () => {
    const url = await freshDatabase()
    const held = await gate()
    const slow = await revisions({ '0001_held.mjs': `export async function up() {\n  ${held.hold()}\n}\n` })
    const holder = startWorker({ url, dir: slow, table: 'app_a_history' })
    await holder.printed('applying 0001_held')
    const other = await revisions({ '0001_fast.sql': '-- migrate:up\ncreate table b (x int);\n' })
    // App A holds its lock until after this run: with a shared key this would end in LOCK_TIMEOUT.
    await expect(createMigrator({ url, dir: other, table: 'app_b_history', lockTimeout: 500, logger: false }).run()).resolves.toMatchObject({
      current: '0001',
    })
    await held.open()
    expect((await holder.done).code).toBe(0)
  })
})

describe('lock-queue safety', () => {
  it('never lets an ALTER waiting behind a long transaction stall readers: they get their rows while it waits, and the log names the blocker', async () => {
    const url = await freshDatabase()
    const first = { '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ninsert into t select generate_series(1, 100);\n' }
    await createMigrator({ url, dir: await revisions(first), logger: false }).run()

    // A long transaction that has read t: it holds ACCESS SHARE until the test ends it.
    const blocker = postgres(url, { max: 1, onnotice: () => undefined })
    const [me] = await blocker`select pg_backend_pid() as pid`
    const blockerPid = me!.pid as number
    const [hasRead, end] = [deferred(), deferred()]
    const release = blocker.begin(async (tx) => {
      await tx`select count(*) from t /* long report */`
      hasRead.resolve()
      await end.promise
    })
    await hasRead.promise

    const dir = await revisions({ ...first, '0002_alter.sql': '-- migrate:up\nalter table t add column y int;\n' })
    const log = captureLog()
    const run = createMigrator({ url, dir, ddlLockTimeout: 300, ddlRetries: 20, logger: log.logger }).run()

    // A reader that arrives while the ALTER waits for its lock queues behind it. Without lock_timeout it would wait
    // for the long transaction, which only ends after these reads: the statement_timeout turns that hang into an error.
    const readers = client(url, { max: 1, connection: { statement_timeout: 20_000 } })
    const watcher = client(url, { max: 1 })
    const alterWaits = async () => (await watcher`select count(*)::int as n from pg_locks where relation = 't'::regclass and not granted`)[0]!.n > 0
    for (let attempt = 1; attempt <= 2; attempt++) {
      await expect.poll(alterWaits, eventually).toBe(true)
      expect(await readers`select count(*)::int as n from t`).toEqual([{ n: 100 }])
    }
    expect(log.text()).toMatch(/retry 1\/20/)

    end.resolve()
    await release
    await blocker.end()
    const result = await run
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(await readers`select count(y)::int as n from t`).toEqual([{ n: 0 }])
    expect(log.text()).toContain(`pid ${blockerPid}`)
    expect(log.text()).toContain('long report')
  })

  it('fails with DDL_LOCK_TIMEOUT and nothing applied when the retries run out', async () => {
    const url = await freshDatabase()
    const setup = { '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n' }
    await createMigrator({ url, dir: await revisions(setup), logger: false }).run()
    const blocker = postgres(url, { max: 1, onnotice: () => undefined })
    const [locked, end] = [deferred(), deferred()]
    const release = blocker.begin(async (tx) => {
      await tx`lock table t in access share mode`
      locked.resolve()
      await end.promise
    })
    await locked.promise
    const dir = await revisions({ ...setup, '0002_alter.sql': '-- migrate:up\ncreate table other (x int);\nalter table t add column y int;\n' })
    await expect(createMigrator({ url, dir, ddlLockTimeout: 100, ddlRetries: 1, logger: false }).run()).rejects.toMatchObject({
      code: 'DDL_LOCK_TIMEOUT',
      revision: '0002',
    })
    end.resolve()
    await release
    await blocker.end()
    expect(await client(url)`select to_regclass('other') as t`).toEqual([{ t: null }])
  })
})
