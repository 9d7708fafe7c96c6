import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { roundTrip } from '../../src/testing.js'
import { revisions } from '../helpers.js'
import { quiet } from './support.js'
import { targets, type Target } from './targets.js'

/** Three reversible revisions; the index is built outside a transaction, as on a live table. */
const reversible = (target: Target) => ({
  '0001_users.sql': '-- migrate:up\ncreate table users (id int primary key, email text);\n-- migrate:down\ndrop table users;\n',
  '0002_email_idx.sql':
    `-- migrate:up\n-- migrate:no-transaction\n${target.sql.buildIndex('users_email', 'users', 'email')};\n` +
    `-- migrate:down\n-- migrate:no-transaction\n${target.sql.dropIndex('users_email', 'users')};\n`,
  '0003_name.sql': "-- migrate:up\nalter table users add column name text not null default '';\n-- migrate:down\nalter table users drop column name;\n",
})

describe.each(targets)('down migrations ($label)', (target) => {
  it('reverts the newest revision by default, then back to a target and to base, newest first, forgetting each history row', async () => {
    const db = await target.fresh()
    const dir = await revisions(reversible(target))
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const m = createMigrator({ ...db.connection, dir, ...quiet })

    expect(await m.down()).toMatchObject({ reverted: [{ id: '0003', name: 'name' }], current: '0002' })
    expect(await db.columns('users')).toEqual(['id', 'email'])
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }, { id: '0002' }])

    expect(await m.down({ to: '0001' })).toMatchObject({ reverted: [{ id: '0002' }], current: '0001' })
    expect(await db.indexes()).toEqual([])

    expect(await m.down({ to: 'base' })).toMatchObject({ reverted: [{ id: '0001' }], current: null })
    // The progress table of no-transaction revisions (0002 is one) stays, empty, beside the history.
    expect(await db.tables()).toEqual(['boot_migrate_history'])
    expect(await db.query('select count(*) as n from boot_migrate_history_progress')).toEqual([{ n: 0 }])
    expect(await db.query('select count(*) as n from boot_migrate_history')).toEqual([{ n: 0 }])
  })

  it('reverts several revisions with steps, newest first', async () => {
    const db = await target.fresh()
    const dir = await revisions(reversible(target))
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).down({ steps: 2 })).toMatchObject({ reverted: [{ id: '0003' }, { id: '0002' }], current: '0001' })
  })

  it('reverts a revision whose file is gone from this code with the down script kept in the history', async () => {
    const db = await target.fresh()
    const dir = await revisions(reversible(target))
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    await rm(join(dir, '0003_name.sql'))
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).down()).toMatchObject({ reverted: [{ id: '0003' }], current: '0002' })
    expect(await db.columns('users')).toEqual(['id', 'email'])
  })

  it('refuses to revert a revision without a down script, naming it, before reverting anything', async () => {
    const db = await target.fresh()
    const dir = await revisions({ ...reversible(target), '0004_seed.sql': "-- migrate:up\ninsert into users values (1, 'a', 'A');\n" })
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).down({ steps: 2 })).rejects.toMatchObject({
      code: 'IRREVERSIBLE',
      revision: '0004',
      message: expect.stringContaining('0004_seed'),
    })
    expect(await db.query('select count(*) as n from boot_migrate_history')).toEqual([{ n: 4 }])
    expect(await db.columns('users')).toContain('name')
  })
})

describe.each(targets)('status, stamp and the offline script ($label)', (target) => {
  it('status lists applied and pending revisions with when, how long and by whom, and unknown ones', async () => {
    const db = await target.fresh()
    const set = reversible(target)
    const dir = await revisions(set)
    const before = Date.parse(new Date().toISOString())
    await createMigrator({ ...db.connection, dir, to: '0001', ...quiet }).run()
    await createMigrator({ ...db.connection, dir, to: '0002', instanceId: 'ci-job', ...quiet }).run()
    const after = Date.parse(new Date().toISOString())

    const older = await revisions({ '0001_users.sql': set['0001_users.sql'], '0003_name.sql': set['0003_name.sql'] })
    const s = await createMigrator({ ...db.connection, dir: older, ...quiet }).status()
    expect(s).toMatchObject({ current: '0002', head: '0003', pending: ['0003'], unknown: ['0002'], dirty: [] })
    expect(s.revisions.map((r) => [r.id, r.state, r.appliedBy, r.outOfOrder])).toEqual([
      ['0001', 'applied', expect.stringMatching(/:\d+$/), false],
      ['0002', 'applied', 'ci-job', false],
      ['0003', 'pending', null, false],
    ])
    const first = s.revisions[0]!
    expect(first.appliedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(first.durationMs).toEqual(expect.any(Number))
    // Recorded by the run: between the moments before and after it.
    expect(Date.parse(first.appliedAt!)).toBeGreaterThanOrEqual(before)
    expect(Date.parse(first.appliedAt!)).toBeLessThanOrEqual(after)
  })

  it('stamp adopts a database created by hand: later revisions apply, stamped ones never run', async () => {
    const db = await target.fresh()
    await db.exec('create table users (id int primary key, email text)')
    const dir = await revisions(reversible(target))
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).stamp('0001')).toEqual(['0001'])
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [{ id: '0002' }, { id: '0003' }] })
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).stamp('0002')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })

  it('the offline script applies the same revisions and history rows when run by hand', async () => {
    const db = await target.fresh()
    const set = reversible(target)
    const dir = await revisions({ '0001_users.sql': set['0001_users.sql'], '0003_name.sql': set['0003_name.sql'] })
    const text = await createMigrator({ url: target.offlineUrl, dir, ...quiet }).script({ from: 'base' })
    expect(text).toContain(`insert into ${target.historyTable}`)
    await db.exec(text)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, current: '0003' })
  })
})

describe.each(targets)('the round-trip helper, boot-migrate/testing ($label)', (target) => {
  it('passes revisions whose down scripts undo them exactly', async () => {
    const db = await target.fresh()
    expect(await roundTrip({ ...db.connection, dir: await revisions(reversible(target)) })).toEqual({ checked: ['0001', '0002', '0003'] })
  })

  it('fails on a down script that forgets an index, naming the index', async () => {
    const db = await target.fresh()
    const broken = { ...reversible(target), '0002_email_idx.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\nselect 1;\n' }
    const error = await roundTrip({ ...db.connection, dir: await revisions(broken) }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ROUND_TRIP_MISMATCH' })
    expect((error as Error).message).toContain('The down script of 0002_email_idx does not restore')
    expect((error as Error).message).toContain(`left behind: index ${target.qualified('users_email')}: `)
    expect((error as Error).message.toLowerCase()).toContain(`create index users_email on ${target.qualified('users')}`)
  })

  it('refuses a database that is not empty', async () => {
    const db = await target.fresh()
    const dir = await revisions(reversible(target))
    await createMigrator({ ...db.connection, dir, to: '0001', ...quiet }).run()
    await expect(roundTrip({ ...db.connection, dir })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })
})
