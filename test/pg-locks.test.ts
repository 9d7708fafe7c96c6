import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { captureLog, client, freshDatabase, revisions, startWorker } from './helpers.js'

describe('the migration lock on PostgreSQL', () => {
  it('gives up after lockTimeout with LOCK_TIMEOUT naming the process that holds the lock', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\nselect pg_sleep(4);\n' })
    const holder = startWorker({ url, dir, instanceId: 'replica-a' })
    await holder.printed('applying 0001_slow')

    const log = captureLog()
    const started = Date.now()
    const error = await createMigrator({ url, dir, lockTimeout: 700, logger: log.logger }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'LOCK_TIMEOUT' })
    expect((error as Error).message).toContain('boot-migrate replica-a')
    expect(Date.now() - started).toBeLessThan(4000)
    expect(log.text()).toMatch(/waiting for the migration lock held by pid \d+ \(boot-migrate replica-a/)
    expect((await holder.done).code).toBe(0)
  })

  it('with a URL of its own, one connection serves the boot check, the lock and the revisions', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\nselect pg_sleep(1.5);\n' })
    const worker = startWorker({ url, dir, instanceId: 'solo' })
    await worker.printed('applying 0001_slow')
    // Every connection to this database but the one asking belongs to the migrating process.
    const sessions = await client(url, { max: 1 })`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`
    expect(sessions).toEqual([{ n: 1 }])
    expect((await worker.done).code).toBe(0)
  })

  it('keys the lock by schema and table, so two apps in one database do not wait for each other', async () => {
    const url = await freshDatabase()
    const slow = await revisions({ '0001_slow.sql': '-- migrate:up\nselect pg_sleep(3);\n' })
    const holder = startWorker({ url, dir: slow, table: 'app_a_history' })
    await holder.printed('applying 0001_slow')
    const other = await revisions({ '0001_fast.sql': '-- migrate:up\ncreate table b (x int);\n' })
    await expect(createMigrator({ url, dir: other, table: 'app_b_history', lockTimeout: 500, logger: false }).run()).resolves.toMatchObject({
      current: '0001',
    })
    await holder.done
  })
})

describe('lock-queue safety', () => {
  it('never lets an ALTER waiting behind a long transaction stall readers longer than ddlLockTimeout, and names the blocker', async () => {
    const url = await freshDatabase()
    const first = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ninsert into t select generate_series(1, 100);\n' })
    await createMigrator({ url, dir: first, logger: false }).run()

    // A long transaction that has read t: it holds ACCESS SHARE until it ends.
    const blocker = postgres(url, { max: 1, onnotice: () => undefined })
    const [me] = await blocker`select pg_backend_pid() as pid`
    const blockerPid = me!.pid as number
    const release = blocker.begin(async (tx) => {
      await tx`select count(*) from t /* long report */`
      await new Promise((r) => setTimeout(r, 2500))
    })
    await new Promise((r) => setTimeout(r, 100))

    const readers = client(url, { max: 2 })
    let worstRead = 0
    let reading = true
    const readLoop = (async () => {
      while (reading) {
        const t = Date.now()
        await readers`select count(*) from t`
        worstRead = Math.max(worstRead, Date.now() - t)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()

    const dir = await revisions({ ...{ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ninsert into t select generate_series(1, 100);\n' }, '0002_alter.sql': '-- migrate:up\nalter table t add column y int;\n' })
    const log = captureLog()
    const result = await createMigrator({ url, dir, ddlLockTimeout: 300, ddlRetries: 20, logger: log.logger }).run()
    await release
    reading = false
    await readLoop
    await blocker.end()

    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(await readers`select count(y)::int as n from t`).toEqual([{ n: 0 }])
    // Without lock_timeout every reader would queue behind the ALTER for the blocker's whole 2.5 s.
    expect(worstRead).toBeLessThan(1200)
    expect(log.text()).toContain(`pid ${blockerPid}`)
    expect(log.text()).toContain('long report')
    expect(log.text()).toMatch(/retry 1\/20/)
  })

  it('fails with DDL_LOCK_TIMEOUT and nothing applied when the retries run out', async () => {
    const url = await freshDatabase()
    const setup = { '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n' }
    await createMigrator({ url, dir: await revisions(setup), logger: false }).run()
    const blocker = postgres(url, { max: 1, onnotice: () => undefined })
    const release = blocker.begin(async (tx) => {
      await tx`lock table t in access share mode`
      await new Promise((r) => setTimeout(r, 2000))
    })
    await new Promise((r) => setTimeout(r, 100))
    const dir = await revisions({ ...setup, '0002_alter.sql': '-- migrate:up\ncreate table other (x int);\nalter table t add column y int;\n' })
    await expect(createMigrator({ url, dir, ddlLockTimeout: 100, ddlRetries: 1, logger: false }).run()).rejects.toMatchObject({
      code: 'DDL_LOCK_TIMEOUT',
      revision: '0002',
    })
    await release
    await blocker.end()
    expect(await client(url)`select to_regclass('other') as t`).toEqual([{ t: null }])
  })
})
