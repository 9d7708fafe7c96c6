import { describe, expect, it } from 'vitest'
import { createMigrator, MigrationError } from '../src/index.js'
import { captureLog, client, freshDatabase, revisions } from './helpers.js'

const quiet = { logger: false as const }

describe('applying revisions on PostgreSQL', () => {
  it('applies a folder of SQL and JS revisions in id order and records each in the history', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0002_add_name.sql': '-- migrate:up\nalter table users add column name text;\n-- migrate:down\nalter table users drop column name;\n',
      '0001_users.sql': "-- migrate:up\ncreate table users (id serial primary key, email text);\ninsert into users (email) values ('a;b');\n",
      '0003_seed.mjs': "export async function up({ query }) { await query(\"insert into users (email, name) values ('c', 'C')\") }\n",
    })
    const result = await createMigrator({ url, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002', '0003'])
    expect(result.applied.every((r) => r.durationMs >= 0)).toBe(true)
    expect(result).toMatchObject({ current: '0003', target: '0003', upToDate: false, unknown: [] })

    const sql = client(url)
    const rows = await sql`select id, name, state, checksum, applied_by, down_sql, duration_ms, applied_at from boot_migrate_history order by id`
    expect(rows.map((r) => [r.id, r.name, r.state])).toEqual([
      ['0001', 'users', 'applied'],
      ['0002', 'add_name', 'applied'],
      ['0003', 'seed', 'applied'],
    ])
    expect(rows[0]!.checksum).toMatch(/^[0-9a-f]{64}$/)
    expect(rows[2]!.checksum).toBeNull()
    expect(rows[1]!.down_sql).toBe('alter table users drop column name;')
    expect(rows[0]!.applied_by).toMatch(/:\d+$/)
    expect(await sql`select email, name from users order by id`).toEqual([
      { email: 'a;b', name: null },
      { email: 'c', name: 'C' },
    ])
  })

  it('keeps the history in the configured schema and table', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '1_a.sql': '-- migrate:up\ncreate table a (x int);' })
    await createMigrator({ url, dir, schema: 'ops', table: 'schema "versions"', ...quiet }).run()
    const sql = client(url)
    expect(await sql`select id from ops.${sql('schema "versions"')}`).toEqual([{ id: '1' }])
    expect(await sql`select to_regclass('public.boot_migrate_history') as t`).toEqual([{ t: null }])
  })

  it('reports the failing statement with its file and line and leaves nothing of the revision', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_ok.sql': '-- migrate:up\ncreate table ok (x int);\n',
      '0002_bad.sql': '-- migrate:up\ncreate table half (x int);\n\ninsert into half\n  values (no_such_column);\n',
    })
    const error = await createMigrator({ url, dir, ...quiet }).run().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 5 })
    expect((error as Error).message).toContain('0002_bad.sql:5')
    expect((error as Error).message).toContain('no_such_column')
    const sql = client(url)
    expect(await sql`select to_regclass('half') as t`).toEqual([{ t: null }])
    expect(await sql`select id from boot_migrate_history`).toEqual([{ id: '0001' }])
  })

  it("transaction: 'all' rolls back every pending revision when one fails", async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\nselect 1/0;\n',
    })
    const error = await createMigrator({ url, dir, transaction: 'all', ...quiet }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002' })
    const sql = client(url)
    expect(await sql`select to_regclass('a') as t`).toEqual([{ t: null }])
    expect(await sql`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 0 }])
  })

  it('logs each applied revision with its duration', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const log = captureLog()
    await createMigrator({ url, dir, logger: log.logger }).run()
    expect(log.text()).toMatch(/applied 0001_a in \d+ ms/)
  })
})
