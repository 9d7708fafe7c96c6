import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { roundTrip } from '../src/testing.js'
import { client, freshDatabase, revisions } from './helpers.js'

const set = {
  '0001_users.sql': '-- migrate:up\ncreate table users (id int primary key, email text);\n-- migrate:down\ndrop table users;\n',
  '0002_email_idx.sql':
    '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently users_email on users (email);\n-- migrate:down\n-- migrate:no-transaction\ndrop index concurrently users_email;\n',
  '0003_name.sql': '-- migrate:up\nalter table users add column name text not null default \'\';\n-- migrate:down\nalter table users drop column name;\n',
}
const quiet = { logger: false as const }

describe('down migrations', () => {
  it('reverts the newest revision by default, and --steps/--to further back, newest first', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    await createMigrator({ url, dir, ...quiet }).run()
    const m = createMigrator({ url, dir, ...quiet })
    expect(await m.down()).toMatchObject({ reverted: [{ id: '0003' }], current: '0002' })
    expect(await m.down({ to: '0001' })).toMatchObject({ reverted: [{ id: '0002' }], current: '0001' })
    const sql = client(url)
    expect(await sql`select to_regclass('users_email') as i`).toEqual([{ i: null }])
    expect(await m.down({ to: 'base' })).toMatchObject({ reverted: [{ id: '0001' }], current: null })
    expect(await sql`select to_regclass('users') as t, (select count(*)::int from boot_migrate_history) as n`).toEqual([{ t: null, n: 0 }])
  })

  it('migrate({ to }) stops at the target', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    expect(await createMigrator({ url, dir, to: '0002', ...quiet }).run()).toMatchObject({ current: '0002', target: '0002' })
    expect(await createMigrator({ url, dir, ...quiet }).run()).toMatchObject({ applied: [{ id: '0003' }] })
  })

  it('reverts a revision whose file is gone from this code with the down script kept in the history', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    await createMigrator({ url, dir, ...quiet }).run()
    await rm(join(dir, '0003_name.sql'))
    expect(await createMigrator({ url, dir, ...quiet }).down()).toMatchObject({ reverted: [{ id: '0003' }], current: '0002' })
    expect(await client(url)`select count(*)::int as n from information_schema.columns where table_name = 'users' and column_name = 'name'`).toEqual([{ n: 0 }])
  })

  it('refuses to revert a revision without a down script, naming it, before reverting anything', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ ...set, '0004_seed.sql': "-- migrate:up\ninsert into users values (1, 'a', 'A');\n" })
    await createMigrator({ url, dir, ...quiet }).run()
    await expect(createMigrator({ url, dir, ...quiet }).down({ steps: 2 })).rejects.toMatchObject({
      code: 'IRREVERSIBLE',
      revision: '0004',
      message: expect.stringContaining('0004_seed'),
    })
    expect(await client(url)`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 4 }])
  })
})

describe('status and stamp', () => {
  it('status lists applied and pending revisions with when, how long and by whom, and unknown ones', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    await createMigrator({ url, dir, to: '0002', instanceId: 'ci-job', ...quiet }).run()
    const older = await revisions({ '0001_users.sql': set['0001_users.sql'], '0003_name.sql': set['0003_name.sql'] })
    const s = await createMigrator({ url, dir: older, ...quiet }).status()
    expect(s).toMatchObject({ current: '0002', head: '0003', pending: ['0003'], unknown: ['0002'], dirty: [] })
    expect(s.revisions.map((r) => [r.id, r.state, r.appliedBy, r.outOfOrder])).toEqual([
      ['0001', 'applied', 'ci-job', false],
      ['0002', 'applied', 'ci-job', false],
      ['0003', 'pending', null, false],
    ])
    expect(s.revisions[0]!.appliedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
  })

  it('stamp adopts a database created by hand: later revisions apply, stamped ones never run', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    await sql`create table users (id int primary key, email text)`
    const dir = await revisions(set)
    expect(await createMigrator({ url, dir, ...quiet }).stamp('0001')).toEqual(['0001'])
    expect(await createMigrator({ url, dir, ...quiet }).run()).toMatchObject({ applied: [{ id: '0002' }, { id: '0003' }] })
    await expect(createMigrator({ url, dir, ...quiet }).stamp('0002')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })

  it('the offline script applies the same revisions and history rows when run by hand', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': set['0001_users.sql'], '0003_name.sql': set['0003_name.sql'] })
    const text = await createMigrator({ url: 'postgres://nobody@127.0.0.1:1/none', dir, ...quiet }).script({ from: 'base' })
    expect(text).toContain('insert into "public"."boot_migrate_history"')
    await client(url, { max: 1 }).unsafe(text)
    expect(await createMigrator({ url, dir, ...quiet }).run()).toMatchObject({ upToDate: true, current: '0003' })
  })
})

describe('the round-trip helper (boot-migrate/testing)', () => {
  it('passes revisions whose down scripts undo them exactly', async () => {
    const url = await freshDatabase()
    expect(await roundTrip({ url, dir: await revisions(set) })).toEqual({ checked: ['0001', '0002', '0003'] })
  })

  it('fails on a down script that forgets an index, naming the index', async () => {
    const url = await freshDatabase()
    const broken = {
      ...set,
      '0002_email_idx.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\nselect 1;\n',
    }
    const error = await roundTrip({ url, dir: await revisions(broken) }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ROUND_TRIP_MISMATCH' })
    expect((error as Error).message).toContain('The down script of 0002_email_idx does not restore')
    expect((error as Error).message).toMatch(/left behind: index public\.users_email: CREATE INDEX users_email ON public\.users/)
  })

  it('refuses a database that is not empty', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    await createMigrator({ url, dir, to: '0001', ...quiet }).run()
    await expect(roundTrip({ url, dir })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })
})
