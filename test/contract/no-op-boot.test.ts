import { describe, expect, it } from 'vitest'
import { createMigrator, migrate } from '../../src/index.js'
import { revisions } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets } from './targets.js'

const twoTables = () =>
  revisions({
    '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
    '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n',
  })

describe.each(targets)('the no-op boot ($label)', (target) => {
  it("runs exactly one statement on the app's connection when nothing is pending, and takes no lock", async () => {
    const db = await target.fresh()
    const dir = await twoTables()
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const app = db.appClient()
    await app.query('select 1')
    app.statements.length = 0

    const result = await createMigrator({ client: app.client, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, current: '0002' })
    expect(app.statements).toEqual([`select id, checksum, state from ${target.historyTable}`])
    expect(await db.lockHeld()).toBe(false)
  })

  it('treats a missing history table as empty and creates nothing when there are no revisions', async () => {
    const db = await target.fresh()
    const app = db.appClient()
    await app.query('select 1')
    app.statements.length = 0
    const result = await createMigrator({ client: app.client, migrations: [], ...quiet }).run()
    expect(result).toMatchObject({ applied: [], current: null, upToDate: true })
    expect(app.statements).toHaveLength(1)
    expect(await db.tables()).toEqual([])
  })
})

describe.each(targets)('migrate() within one process ($label)', (target) => {
  it('shares one run between concurrent calls', async () => {
    const db = await target.fresh()
    const dir = await twoTables()
    const [a, b] = [migrate({ ...db.connection, dir, ...quiet }), migrate({ ...db.connection, dir, ...quiet })]
    expect(a).toBe(b)
    expect((await a).applied.map((r) => r.id)).toEqual(['0001', '0002'])
  })

  it('answers later calls from the finished run without a statement', async () => {
    const db = await target.fresh()
    const dir = await twoTables()
    const app = db.appClient()
    await migrate({ client: app.client, dir, ...quiet })
    app.statements.length = 0
    expect(await migrate({ client: app.client, dir, ...quiet })).toMatchObject({ current: '0002' })
    expect(app.statements).toHaveLength(0)
  })

  it('runs again after a failed run instead of repeating its error', async () => {
    const db = await target.fresh()
    const migrations = [{ id: '1', up: 'insert into not_yet values (1)' }]
    expect(await failure(migrate({ ...db.connection, migrations, ...quiet }))).toMatchObject({ code: 'MIGRATION_FAILED' })
    await db.exec('create table not_yet (x int)')
    await expect(migrate({ ...db.connection, migrations, ...quiet })).resolves.toMatchObject({ current: '1' })
  })
})
