import { describe, expect, it } from 'vitest'
import { createMigrator, MigrationError } from '../../src/index.js'
import { redactUrl } from '../../src/secrets.js'
import { captureLog, revisions } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets } from './targets.js'

describe.each(targets)('applying revisions ($label)', (target) => {
  const p = target.sql.param

  it('applies a folder of SQL and JS revisions in id order and records each in the history', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0002_add_name.sql': '-- migrate:up\nalter table users add column name text;\n-- migrate:down\nalter table users drop column name;\n',
      '0001_users.sql': `-- migrate:up\ncreate table users (id ${target.sql.autoId}, email text);\ninsert into users (email) values ('a;b');\n`,
      '0003_seed.mjs':
        'export async function up({ query, exec }) {\n' +
        `  await query('insert into users (email, name) values (${p(1)}, ${p(2)})', ['c', 'C'])\n` +
        "  await exec('create table t1 (x int); create table t2 (x int);')\n" +
        '}\n',
    })
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002', '0003'])
    expect(result.applied.every((r) => typeof r.durationMs === 'number' && r.durationMs >= 0)).toBe(true)
    expect(result).toMatchObject({ current: '0003', target: '0003', upToDate: false, unknown: [] })

    const rows = await db.query('select id, name, state, checksum, applied_by, down_sql, duration_ms, applied_at from boot_migrate_history order by id')
    expect(rows.map((r) => [r.id, r.name, r.state])).toEqual([
      ['0001', 'users', 'applied'],
      ['0002', 'add_name', 'applied'],
      ['0003', 'seed', 'applied'],
    ])
    expect(rows[0]!.checksum).toMatch(/^[0-9a-f]{64}$/)
    expect(rows[2]!.checksum).toBeNull()
    expect(rows[1]!.down_sql).toBe('alter table users drop column name;')
    expect(rows[0]!.applied_by).toMatch(/:\d+$/)
    expect(rows[0]!.applied_at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(typeof rows[0]!.duration_ms).toBe('number')
    expect(await db.query('select email, name from users order by id')).toEqual([
      { email: 'a;b', name: null },
      { email: 'c', name: 'C' },
    ])
    expect(await db.tables()).toEqual(['boot_migrate_history', 't1', 't2', 'users'])
  })

  it('keeps the history in the configured table', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '1_a.sql': '-- migrate:up\ncreate table a (x int);' })
    await createMigrator({ ...db.connection, dir, table: 'app "versions"', ...quiet }).run()
    expect(await db.query(`select id from ${target.quote('app "versions"')}`)).toEqual([{ id: '1' }])
    expect(await db.tables()).toEqual(['a', 'app "versions"'])
  })

  it('treats a database without the history table as an empty history and keeps what is there', async () => {
    const db = await target.fresh()
    await db.exec('create table existing (x int)')
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(await db.tables()).toEqual(['a', 'b', 'boot_migrate_history', 'existing'])
  })

  it('migrates through the client it was given and leaves it open', async () => {
    const db = await target.fresh()
    const app = db.appClient()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n' })
    await createMigrator({ client: app.client, dir, ...quiet }).run()
    expect(await app.query('select x from a')).toEqual([{ x: 1 }])
  })

  it('stops at the `to` target and applies the rest on a later run', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n',
      '0003_c.sql': '-- migrate:up\ncreate table c (x int);\n',
    })
    expect(await createMigrator({ ...db.connection, dir, to: '0002', ...quiet }).run()).toMatchObject({ current: '0002', target: '0002' })
    expect(await db.tables()).not.toContain('c')
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [{ id: '0003' }] })
  })

  it('reports the failing statement with its file and line and leaves nothing of the revision', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_ok.sql': '-- migrate:up\ncreate table ok (x int);\n',
      '0002_bad.sql': '-- migrate:up\ncreate table half (x int);\n\ninsert into half\n  values (no_such_column);\n',
    })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    const line = target.errorLine === 'failing token' ? 5 : 4
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line })
    expect(error.message).toContain(`0002_bad.sql:${line}`)
    expect(error.message).toMatch(/column\W+no_such_column/)
    if (target.transactionalDdl) {
      expect(error.message).toContain('rolled back')
      expect(await db.tables()).toEqual(['boot_migrate_history', 'ok'])
      expect(await db.query('select id from boot_migrate_history')).toEqual([{ id: '0001' }])
    } else {
      // Its CREATE TABLE committed implicitly: the revision ran statement by statement and is left dirty, with an exact account.
      expect(error.message).toContain('statement 1 stays applied')
      expect(await db.tables()).toEqual(['boot_migrate_history', 'half', 'ok'])
      expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual([
        { id: '0001', state: 'applied' },
        { id: '0002', state: 'running' },
      ])
    }
  })

  it("transaction: 'all' rolls back every pending revision when one fails", async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\ninsert into nowhere values (1);\n',
    })
    const error = await failure(createMigrator({ ...db.connection, dir, transaction: 'all', ...quiet }).run())
    // Where DDL commits implicitly, one transaction cannot hold a CREATE TABLE: refused before anything runs.
    expect(error).toMatchObject(target.transactionalDdl ? { code: 'MIGRATION_FAILED', revision: '0002' } : { code: 'INVALID_OPTIONS', revision: '0001' })
    expect(await db.tables()).toEqual(['boot_migrate_history'])
    expect(await db.query('select count(*) as n from boot_migrate_history')).toEqual([{ n: 0 }])
  })

  it('gives a JS revision its driver, exec for several statements and query for rows', async () => {
    const db = await target.fresh()
    let seen: unknown
    const result = await createMigrator({
      ...db.connection,
      migrations: [
        {
          id: '1',
          async up(ctx) {
            expect(ctx.dialect).toBe(target.name)
            expect(target.isDriver(ctx.sql)).toBe(true)
            await ctx.exec('create table a (x int); insert into a values (1); insert into a values (2);')
            expect(await ctx.query(`insert into a values (${p(1)})`, [3])).toEqual([])
            seen = await ctx.query(`select x from a where x >= ${p(1)} order by x`, [2])
          },
        },
      ],
      ...quiet,
    }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['1'])
    expect(seen).toEqual([{ x: 2 }, { x: 3 }])
  })

  it('logs the database it migrates and each applied revision with its duration', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const log = captureLog()
    await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(log.text()).toMatch(/applied 0001_a in \d+ ms/)
    // The URL names the database; its password (the embedded server has one) is never printed.
    expect(log.text()).toContain(redactUrl(db.url))
    if (new URL(db.url).password) expect(log.text()).not.toContain(`:${new URL(db.url).password}@`)
  })
})
