import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { eventually } from './contract/support.js'
import { client, freshDatabase, revisions } from './helpers.js'

describe('stopping on PostgreSQL', () => {
  it('stop() cancels the statement in flight: the revision is rolled back and the lock freed before stop() returns', async () => {
    const url = await freshDatabase()
    // Ten minutes of sleep: stop() can only return within the test's time by cancelling it.
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table a (x int);\nselect pg_sleep(600);\ncreate table b (x int);\n' })
    const migrator = createMigrator({ url, dir, logger: false })
    const sql = client(url)
    const sleeping = async () =>
      (await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'active' and query like '%pg_sleep(600)%'`)[0]!.n
    migrator.start()
    await expect.poll(sleeping, eventually).toBe(1)

    await migrator.stop()
    expect(await sleeping()).toBe(0)
    await expect(migrator.ready).rejects.toMatchObject({ code: 'ABORTED', revision: '0001' })
    expect(migrator.health()).toMatchObject({ status: 'failed', ready: false, error: { code: 'ABORTED' } })
    expect(
      await sql`select to_regclass('a') as a, (select count(*)::int from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())) as locks`,
    ).toEqual([{ a: null, locks: 0 }])
  })
})
