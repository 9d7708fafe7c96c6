import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { createMigrator, migrate } from '../src/index.js'
import { freshDatabase, revisions } from './helpers.js'

/** A client like an app's, counting every query sent on it or on connections made from its options. */
function countingClient(url: string) {
  const counter = { queries: [] as string[] }
  const sql = postgres(url, { max: 4, onnotice: () => undefined, debug: (_c, q) => void counter.queries.push(q) })
  afterAll(() => sql.end({ timeout: 1 }))
  return { sql, counter }
}

const dir = () =>
  revisions({
    '0001_users.sql': '-- migrate:up\ncreate table users (id int);\n',
    '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently users_id on users (id);\n',
  })

describe('the no-op boot', () => {
  it('runs exactly one query and takes no lock when nothing is pending', async () => {
    const url = await freshDatabase()
    const d = await dir()
    const { sql, counter } = countingClient(url)
    await sql`select 1`
    await createMigrator({ client: sql, dir: d, logger: false }).run()
    counter.queries.length = 0

    const result = await createMigrator({ client: sql, dir: d, logger: false }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, current: '0002' })
    expect(counter.queries).toHaveLength(1)
    expect(counter.queries[0]).toMatch(/^select id, checksum, state from "public"\."boot_migrate_history"$/)
  })

  it('treats a missing history table as empty and creates nothing when there are no revisions', async () => {
    const url = await freshDatabase()
    const { sql, counter } = countingClient(url)
    await sql`select 1`
    counter.queries.length = 0
    const result = await createMigrator({ client: sql, migrations: [], logger: false }).run()
    expect(result).toMatchObject({ applied: [], current: null, upToDate: true })
    expect(counter.queries).toHaveLength(1)
    expect(await sql`select to_regclass('boot_migrate_history') as t`).toEqual([{ t: null }])
  })

  it('never closes the client it was given', async () => {
    const url = await freshDatabase()
    const { sql } = countingClient(url)
    await createMigrator({ client: sql, dir: await dir(), logger: false }).run()
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }])
  })
})

describe('migrate() within one process', () => {
  it('shares one run between concurrent calls', async () => {
    const url = await freshDatabase()
    const d = await dir()
    const [a, b] = [migrate({ url, dir: d, logger: false }), migrate({ url, dir: d, logger: false })]
    expect(a).toBe(b)
    expect((await a).applied.map((r) => r.id)).toEqual(['0001', '0002'])
  })

  it('answers later calls from the finished run without a query', async () => {
    const url = await freshDatabase()
    const d = await dir()
    const { sql, counter } = countingClient(url)
    await migrate({ client: sql, dir: d, logger: false })
    counter.queries.length = 0
    expect(await migrate({ client: sql, dir: d, logger: false })).toMatchObject({ current: '0002' })
    expect(counter.queries).toHaveLength(0)
  })

  it('runs again after a failed run instead of repeating its error', async () => {
    const url = await freshDatabase()
    const migrations = [{ id: '1', up: 'select * from not_yet' }]
    await expect(migrate({ url, migrations, logger: false })).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    const sql = postgres(url, { max: 1, onnotice: () => undefined })
    await sql`create table not_yet (x int)`
    await sql.end()
    await expect(migrate({ url, migrations, logger: false })).resolves.toMatchObject({ current: '1' })
  })
})
