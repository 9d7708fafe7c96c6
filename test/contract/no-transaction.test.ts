import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions, root } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets } from './targets.js'

/** A no-transaction revision whose first statement runs and whose second fails: it is left dirty. */
const halfDone = '-- migrate:up\n-- migrate:no-transaction\ncreate table a (x int);\ninsert into nowhere values (1);\n'

describe.each(targets)('no-transaction revisions ($label)', (target) => {
  // MySQL refuses nothing inside a transaction: its DDL commits implicitly, and such a revision runs outside one by itself.
  it.skipIf(!target.sql.refusedInTransaction)('rejects a statement that cannot run in a transaction before anything runs, saying which directive to add', async () => {
    const [statement, what] = target.sql.refusedInTransaction!
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_vacuum.sql': `-- migrate:up\n\n${statement};\n` })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 3 })
    expect(error.message).toContain(`${what} cannot run inside a transaction`)
    expect(error.message).toContain('-- migrate:no-transaction')
    expect(await db.tables()).toEqual([])
  })

  it('runs a revision marked no-transaction statement by statement and records it as applied', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n',
      '0002_vacuum.sql': `-- migrate:up\n-- migrate:no-transaction\ndelete from a;\n${target.sql.maintenance('a')};\n`,
    })
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
    expect(await db.query('select count(*) as n from a')).toEqual([{ n: 0 }])
  })

  it('leaves a revision that failed midway dirty, and the next run refuses it with the resolve command', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_two.sql': halfDone })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0001', line: 4 })
    expect(error.message).toContain('dirty')
    expect(await db.query('select state from boot_migrate_history')).toEqual([{ state: 'running' }])
    expect(await db.tables()).toContain('a')

    const again = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(again).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(again.message).toContain('boot-migrate resolve 0001')
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).status()).toMatchObject({ dirty: ['0001'] })
  })

  it('removes the running row when the first statement fails before executing (syntax error): nothing is dirty', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_bad.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate tabel u (x int);\n',
    })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002' })
    expect(error.message).toContain('Nothing of it was applied')
    expect(await db.query('select id from boot_migrate_history')).toEqual([{ id: '0001' }])
  })
})

describe.each(targets)('resolving a dirty revision ($label)', (target) => {
  it('marking it applied lets the boot go on without running it, and a second resolve is refused', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_two.sql': halfDone, '0003_after.sql': '-- migrate:up\ncreate table after_it (x int);\n' })
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    await createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'applied')
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0003' }] })
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'applied')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })

  it.skipIf(!target.processes)('the CLI marks it rolled back, after which the next boot runs it again', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_two.sql': halfDone })
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    // What a human does after reading the DIRTY message: undo what ran, fix the cause, resolve.
    await db.exec('drop table a; create table nowhere (x int);')
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args, '--url', db.url, '--dir', dir], { encoding: 'utf8' })
    const resolved = cli('resolve', '0002', '--rolled-back')
    expect(resolved.status, resolved.stdout + resolved.stderr).toBe(0)
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0002' }] })
    expect(await db.query('select count(*) as n from nowhere')).toEqual([{ n: 1 }])
    expect(cli('resolve', '0002', '--applied').status).toBe(1)
  })
})
