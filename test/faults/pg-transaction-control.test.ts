// What a revision does to the transaction and the session around it: statements that would end the
// transaction boot-migrate wraps around a revision (refused before anything runs), a JS revision's own
// ctx.sql.begin() (a savepoint inside the revision's transaction, never a commit), session settings a
// revision changes (never seen by the next revision), and COPY FROM stdin (refused, not a hang or a crash).
import type postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrationContext } from '../../src/index.js'
import { client, freshDatabase, revisions } from '../helpers.js'
import { column, crashed, history, noMigrationLeftovers, outcome, startNode, watchCrashes, within, workers } from './helpers.js'

type Sql = postgres.Sql<Record<string, postgres.PostgresType>>

/** The app's tables in public (the history table is checked through its rows). */
const tables = (sql: Sql) =>
  sql<Array<{ name: string }>>`
    select table_name as name from information_schema.tables
     where table_schema = 'public' and table_name <> 'boot_migrate_history' order by 1`.then((r) => r.map((x) => x.name))

describe('PostgreSQL: statements that end the revision transaction are refused before anything runs', () => {
  it.each([
    ['commit and chain;', 'commit and chain'],
    ['commit -- done\n;', 'commit with a line comment'],
    ['commit /* c */;', 'commit with a block comment'],
    ['end;', 'end'],
  ])('%j (%s) in a transactional revision: INVALID_REVISION naming file:line, no table, no history row', async (statement) => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      // The statement is on line 4 of the file.
      '0002_tx.sql': `-- migrate:up\ncreate table b (x int);\ninsert into b values (1);\n${statement}\ncreate table c (x int);\n`,
    })
    const run = await within('run()', outcome(createMigrator({ url, dir, logger: false }).run()))
    expect(run.error).toMatchObject({ code: 'INVALID_REVISION' })
    expect(run.error!.message).toContain('0002_tx.sql:4')
    const sql = client(url)
    expect(await tables(sql)).toEqual([])
    expect(await history(sql)).toEqual([])
  })

  it('a no-transaction revision that opens a transaction and never commits it: INVALID_REVISION naming file:line, nothing runs', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_open.sql': '-- migrate:up\n-- migrate:no-transaction\nbegin;\ninsert into a values (1);\n',
    })
    const run = await within('run()', outcome(createMigrator({ url, dir, logger: false }).run()))
    expect(run.error).toMatchObject({ code: 'INVALID_REVISION' })
    expect(run.error!.message).toContain('0002_open.sql:3')
    const sql = client(url)
    expect(await tables(sql)).toEqual([])
    expect(await history(sql)).toEqual([])
  })
})

describe('PostgreSQL: ctx.sql.begin() inside a transactional JS revision is a savepoint', () => {
  const setup = { id: '0001', name: 't', up: 'create table t (x int);' }

  it('a revision that throws after its nested begin() commits nothing: MIGRATION_FAILED, no row, no history row', async () => {
    const crashes = watchCrashes()
    const url = await freshDatabase()
    const migrations = [
      setup,
      {
        id: '0002',
        name: 'nested_then_throws',
        async up(ctx: MigrationContext) {
          await (ctx.sql as Sql).begin(async (tx) => {
            await tx`insert into t values (1)`
          })
          throw new Error('the revision fails after its nested transaction')
        },
      },
    ]
    const run = await within('run()', outcome(createMigrator({ url, migrations, logger: false }).run()))
    expect(run.error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002' })
    const sql = client(url)
    expect(await column(sql, 't')).toEqual([])
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    await noMigrationLeftovers(sql)
    expect(crashes.seen, crashes.describe()).toEqual([])
  })

  it('a revision with a nested begin() that succeeds commits its rows once, with the revision', async () => {
    const url = await freshDatabase()
    const migrations = [
      setup,
      {
        id: '0002',
        name: 'nested',
        async up(ctx: MigrationContext) {
          const sql = ctx.sql as Sql
          await sql.begin(async (tx) => {
            await tx`insert into t values (1)`
          })
          await sql`insert into t values (2)`
        },
      },
    ]
    const result = await within('run()', createMigrator({ url, migrations, logger: false }).run())
    expect(result.applied.map((a) => a.id)).toEqual(['0001', '0002'])
    const sql = client(url)
    expect(await column(sql, 't')).toEqual([1, 2])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })
})

describe('PostgreSQL: session settings a revision changes do not leak into the next revision', () => {
  it("set_config('search_path', '', false) in 0001 does not stop 0002 from creating its table in public", async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_path.sql': "-- migrate:up\nselect set_config('search_path', '', false);\n",
      '0002_t2.sql': '-- migrate:up\ncreate table t2 (x int);\n',
    })
    const run = await within('run()', outcome(createMigrator({ url, dir, logger: false }).run()))
    expect(run.error).toBeUndefined()
    expect(run.value!.applied.map((a) => a.id)).toEqual(['0001', '0002'])
    const sql = client(url)
    expect(await sql`select to_regclass('public.t2') is not null as exists`).toEqual([{ exists: true }])
  })
})

describe('PostgreSQL: COPY FROM stdin in a SQL revision', () => {
  it('is refused with INVALID_REVISION naming file:line before anything runs; the process reports it and exits 1 (no crash, no hang)', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_copy.sql': '-- migrate:up\ncopy t from stdin;\n1\n2\n\\.\n',
    })
    const run = await startNode(workers.run, { url, dir }).exited()
    expect(run.code, run.stdout).toBe(1)
    expect(run.signal).toBeNull()
    expect(run.error, run.stdout).toMatchObject({ code: 'INVALID_REVISION' })
    expect(run.error!.message).toContain('0002_copy.sql:2')
    expect(crashed(run.stdout), run.stdout).toBe(false)
    const sql = client(url)
    expect(await tables(sql)).toEqual([])
    expect(await history(sql)).toEqual([])
  })
})
