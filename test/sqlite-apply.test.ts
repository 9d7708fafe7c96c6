import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { createMigrator, MigrationError } from '../src/index.js'
import { captureLog, revisions } from './helpers.js'
import { counting, freshFile, open, tables, tempDir } from './sqlite-helpers.js'

const quiet = { logger: false as const }
const fail = (p: Promise<unknown>) => p.then(() => expect.unreachable('the run should have failed'), (e: unknown) => e as MigrationError)

describe('applying revisions on SQLite', () => {
  it('applies a folder of SQL and JS revisions in id order and records each in the history', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0002_add_name.sql': '-- migrate:up\nalter table users add column name text;\n-- migrate:down\nalter table users drop column name;\n',
      '0001_users.sql': "-- migrate:up\ncreate table users (id integer primary key, email text);\ninsert into users (email) values ('a;b');\n",
      '0003_seed.mjs':
        "export async function up({ query, exec }) {\n  await query('insert into users (email, name) values (?, ?)', ['c', 'C'])\n  await exec('create table t1 (x); create table t2 (x);')\n}\n",
    })
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002', '0003'])
    expect(result).toMatchObject({ current: '0003', target: '0003', upToDate: false, unknown: [] })

    const db = open(file)
    const rows = db.prepare('select id, name, state, checksum, applied_by, down_sql, duration_ms, applied_at from boot_migrate_history order by id').all() as Array<
      Record<string, unknown>
    >
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
    expect(db.prepare('select email, name from users order by id').all()).toEqual([
      { email: 'a;b', name: null },
      { email: 'c', name: 'C' },
    ])
    expect(tables(db)).toEqual(['boot_migrate_history', 't1', 't2', 'users'])
  })

  it('runs exactly one statement on the given connection when nothing is pending, and takes no lock', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()

    const app = counting(file)
    const result = await createMigrator({ client: app.db, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, current: '0001' })
    expect(app.statements).toEqual(['select id, checksum, state from "boot_migrate_history"'])
    expect(existsSync(`${file}.lock`)).toBe(false)
  })

  it('treats a database without the history table as an empty history', async () => {
    const file = await freshFile()
    const app = open(file)
    app.exec('create table existing (x int)')
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    const result = await createMigrator({ client: app, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(tables(app)).toEqual(['a', 'b', 'boot_migrate_history', 'existing'])
  })

  it('migrates through the given client and leaves it open', async () => {
    const file = await freshFile()
    const app = open(file)
    const dir = await revisions({ '0001_a.sql': "-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n" })
    await createMigrator({ client: app, dir, ...quiet }).run()
    expect(app.open).toBe(true)
    expect(app.prepare('select x from a').pluck().all()).toEqual([1])
  })

  it('reports the failing statement with its file and line and leaves nothing of the revision', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_ok.sql': '-- migrate:up\ncreate table ok (x int);\n',
      '0002_bad.sql': '-- migrate:up\ncreate table half (x int);\n\ninsert into half\n  values (no_such_column);\n',
    })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(error).toBeInstanceOf(MigrationError)
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 4 })
    expect(error.message).toContain('0002_bad.sql:4')
    expect(error.message).toContain('no such column: no_such_column')
    expect(error.message).toContain('rolled back')
    const db = open(file)
    expect(tables(db)).toEqual(['boot_migrate_history', 'ok'])
    expect(db.prepare('select id from boot_migrate_history').pluck().all()).toEqual(['0001'])
  })

  it("transaction: 'all' rolls back every pending revision when one fails", async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\ninsert into nowhere values (1);\n',
    })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, transaction: 'all', ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002' })
    const db = open(file)
    expect(tables(db)).toEqual(['boot_migrate_history'])
    expect(db.prepare('select count(*) from boot_migrate_history').pluck().get()).toBe(0)
  })

  it('refuses a revision edited after it was applied, naming the file', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    await writeFile(join(dir, '0001_a.sql'), '-- migrate:up\ncreate table a (x int, y int);\n')
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH', revision: '0001' })
    expect(error.message).toContain('0001_a.sql')
  })

  it('refuses a pending revision that sorts before an applied one unless allowOutOfOrder', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0003_c.sql': '-- migrate:up\ncreate table c (x int);\n' })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\ncreate table b (x int);\n')
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'OUT_OF_ORDER', revision: '0002' })
    expect(tables(open(file))).not.toContain('b')

    const result = await createMigrator({ url: `sqlite:${file}`, dir, allowOutOfOrder: true, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
  })

  it('runs a no-transaction revision outside a transaction and rejects VACUUM inside one with the fix', async () => {
    const file = await freshFile()
    const inTx = await revisions({ '0001_vacuum.sql': '-- migrate:up\nvacuum;\n' })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir: inTx, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 2 })
    expect(error.message).toContain('-- migrate:no-transaction')

    const dir = await revisions({
      '0001_a.sql': "-- migrate:up\ncreate table a (x int);\ninsert into a values (1);\n",
      '0002_vacuum.sql': '-- migrate:up\n-- migrate:no-transaction\ndelete from a;\nvacuum;\n',
    })
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    const db = open(file)
    expect(db.prepare('select id, state from boot_migrate_history order by id').all()).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('leaves a no-transaction revision that failed midway dirty, and the next run refuses it with the resolve command', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_two.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate table a (x int);\ninsert into nowhere values (1);\n' })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0001', line: 4 })
    expect(error.message).toContain('dirty')
    expect(open(file).prepare('select state from boot_migrate_history').pluck().all()).toEqual(['running'])

    const again = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(again).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(again.message).toContain('boot-migrate resolve 0001')
  })

  it('gives a JS revision the connection, exec for several statements and query for rows', async () => {
    const file = await freshFile()
    let seen: unknown
    const result = await createMigrator({
      url: `sqlite:${file}`,
      migrations: [
        {
          id: '1',
          async up(ctx) {
            expect(ctx.dialect).toBe('sqlite')
            expect(ctx.sql).toBeInstanceOf(Database)
            await ctx.exec("create table a (x int); insert into a values (1); insert into a values (2);")
            expect(await ctx.query('insert into a values (?)', [3])).toEqual([])
            seen = await ctx.query('select x from a where x >= ? order by x', [2])
          },
        },
      ],
      ...quiet,
    }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['1'])
    expect(seen).toEqual([{ x: 2 }, { x: 3 }])
  })

  it('logs each applied revision with its duration', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const log = captureLog()
    await createMigrator({ url: `sqlite:${file}`, dir, logger: log.logger }).run()
    expect(log.text()).toMatch(/applied 0001_a in \d+ ms/)
    expect(log.text()).toContain(`sqlite:${file}`)
  })

  it('migrates an in-memory database given as a client without any lock file', async () => {
    const memory = new Database(':memory:')
    let lockFileDuringRevision: boolean | undefined
    const migrations = [
      {
        id: '0001',
        async up({ exec }: { exec(sql: string): Promise<void> }) {
          lockFileDuringRevision = existsSync(join(process.cwd(), ':memory:.lock'))
          await exec('create table a (x int); insert into a values (1);')
        },
      },
    ]
    const first = await createMigrator({ client: memory, migrations, ...quiet }).run()
    expect(first.applied.map((r) => r.id)).toEqual(['0001'])
    expect(lockFileDuringRevision).toBe(false)
    expect(memory.prepare('select x from a').pluck().all()).toEqual([1])
    const second = await createMigrator({ client: memory, migrations, ...quiet }).run()
    expect(second).toMatchObject({ applied: [], upToDate: true })
    memory.close()
  })

  it('lets one of two migrators on the same in-memory client apply and the other find it done', async () => {
    const dir = await revisions({
      '0001_slow.mjs': "export async function up({ exec }) {\n  await new Promise((r) => setTimeout(r, 300))\n  await exec('create table a (x int)')\n}\n",
    })
    const memory = new Database(':memory:')
    const [a, b] = await Promise.all([createMigrator({ client: memory, dir, ...quiet }).run(), createMigrator({ client: memory, dir, ...quiet }).run()])
    expect([a.applied.length, b.applied.length].sort()).toEqual([0, 1])
    expect(memory.prepare('select count(*) from boot_migrate_history').pluck().get()).toBe(1)
    memory.close()
  })

  it('rejects a lockStale below what proper-lockfile honours', async () => {
    const dir = await tempDir()
    const error = await fail(createMigrator({ url: `sqlite:${join(dir, 'a.db')}`, dir, lockStale: 500, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(error.message).toContain('lockStale')
  })
})
