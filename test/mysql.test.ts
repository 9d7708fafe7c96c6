// MySQL/MariaDB-specific behaviour, beyond the contract suite: metadata-lock waits, the lock holder, DELIMITER.
import mysql from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { revisions } from './helpers.js'
import { failure, quiet } from './contract/support.js'
import { targets, type TestDatabase } from './contract/targets.js'
import { myApplyFile } from './contract/schema.js'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const target = targets.find((t) => t.name === 'mysql')

const until = async (ok: () => boolean | Promise<boolean>) => {
  while (!(await ok())) await new Promise((r) => setTimeout(r, 20))
}
/** Until the ALTER TABLE t waits for a metadata lock. */
const alterWaiting = (db: TestDatabase) =>
  until(
    async () =>
      (
        await db.query<{ n: number }>(
          "select count(*) as n from information_schema.processlist where db = database() and info like 'alter table t %' and state like '%metadata lock%'",
        )
      )[0]!.n > 0,
  )

describe.skipIf(!target)('MySQL and MariaDB', () => {
  it('an ALTER TABLE behind a long transaction gives up after ddlLockTimeout, retries that statement alone, names the blocker, and readers are never stalled longer', async () => {
    const db = await target!.fresh()
    await db.exec('create table t (x int); insert into t values (1);')
    const blocker = await mysql.createConnection(db.url)
    await blocker.query('start transaction')
    await blocker.query('select * from t')
    const lines: string[] = []
    const logger = { debug() {}, info() {}, warn: (m: unknown) => void lines.push(String(m)), error: (m: unknown) => void lines.push(String(m)) }
    const dir = await revisions({ '0001_alter.sql': '-- migrate:up\ncreate table u (y int);\nalter table t add column z int;\n' })
    let settled = false
    // Retries to spare: whichever attempt the poll below catches, the reader behind it goes on before the run gives up.
    const run = failure(createMigrator({ url: db.url, dir, ddlLockTimeout: 1000, ddlRetries: 3, logger }).run()).finally(() => void (settled = true))
    // A reader arriving while the ALTER waits is queued behind its metadata lock until the ALTER gives up, before the run does.
    await alterWaiting(db)
    await db.query('select * from t')
    expect(settled).toBe(false)
    const error = await run
    await blocker.query('rollback')
    await blocker.end()
    expect(error).toMatchObject({ code: 'DDL_LOCK_TIMEOUT', revision: '0001' })
    expect(error.message).toContain('statement 1 stays applied')
    expect(lines.join('\n')).toMatch(/statement 2 waited over 1000 ms for a lock held by connection \d+ \(root@/)
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'running' }])
  })

  it('readers queued behind an ALTER waiting for a metadata lock go on each time it gives up; it retries alone and succeeds once the blocker commits', async () => {
    const db = await target!.fresh()
    await db.exec('create table t (x int); insert into t values (1);')
    const blocker = await mysql.createConnection(db.url)
    await blocker.query('start transaction')
    await blocker.query('select * from t')
    const events: string[] = []
    const logger = { debug() {}, info() {}, warn: (m: unknown) => void (/ statement 2 waited over 1000 ms .* retry \d+\//.test(String(m)) && events.push('retry')), error() {} }
    const dir = await revisions({ '0001_alter.sql': '-- migrate:up\ncreate table u (y int);\nalter table t add column z int;\n' })
    const run = createMigrator({ url: db.url, dir, ddlLockTimeout: 1000, ddlRetries: 50, logger })
      .run()
      .then((r) => (events.push('migrated'), r))
    // Twice: a reader issued while the ALTER waits (its metadata lock request queued ahead of the reader's)
    // completes when that attempt gives up after ddlLockTimeout, while the revision is still retrying.
    for (const n of [1, 2]) {
      await alterWaiting(db)
      expect(await db.query('select x from t')).toEqual([{ x: 1 }])
      events.push(`reader ${n}`)
    }
    await until(() => events.filter((e) => e === 'retry').length >= 2)
    events.push('blocker commits')
    await blocker.query('commit')
    await blocker.end()
    await expect(run).resolves.toMatchObject({ applied: [{ id: '0001' }] })
    expect(events.indexOf('reader 1')).toBeLessThan(events.indexOf('reader 2'))
    // Reader 2 was issued while a retry of the ALTER waited: each reader was released by a give-up, not by the commit.
    expect(events.slice(0, events.indexOf('reader 2'))).toContain('retry')
    expect(events.indexOf('reader 2')).toBeLessThan(events.indexOf('blocker commits'))
    expect(events.at(-1)).toBe('migrated')
    expect(events.indexOf('migrated')).toBeGreaterThan(events.indexOf('blocker commits'))
    expect(await db.columns('t')).toEqual(['x', 'z'])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])
    expect(await db.query('select count(*) as n from boot_migrate_history_progress')).toEqual([{ n: 0 }])
  })

  it('the offline script of a DDL revision records each statement as a run does: stopped by a failing statement, resolve --resume completes it', async () => {
    const db = await target!.fresh()
    const five = (bad: boolean) =>
      [
        '-- migrate:up',
        'create table p1 (x int);',
        'insert into p1 values (1);',
        'create index p1_x on p1 (x);',
        `alter table ${bad ? 'nowhere' : 'p1'} add column y int;`,
        'create table p5 (x int);',
        '-- migrate:down',
        'drop table p5;',
        'drop table p1;',
        '',
      ].join('\n')
    const dir = await revisions({ '0001_base.sql': '-- migrate:up\ncreate table base (x int);\n', '0002_five.sql': five(true) })
    const text = await createMigrator({ url: target!.offlineUrl, dir, ...quiet }).script({ from: 'base' })
    expect(text).toContain('create table if not exists `boot_migrate_history_progress`')
    expect(text).toContain("insert into `boot_migrate_history_progress` (id, step, hash) values ('0002', 3, '")
    expect(text).toContain('set session lock_wait_timeout = 3;')
    // As a DBA runs it: the mariadb client stops at the first error.
    await expect(myApplyFile(db.url, join(dir, 'script.sql'), text, true)).rejects.toThrow(/nowhere/)
    expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
    expect((await db.query('select step from boot_migrate_history_progress order by step')).map((r) => Number(r.step))).toEqual([1, 2, 3])
    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain('statements 1..3 of 5 are recorded as applied')
    expect(dirty.message).toContain(`statement 4 at ${join(dir, '0002_five.sql')}:5 (alter table nowhere add column y int)`)
    await writeFile(join(dir, '0002_five.sql'), five(false))
    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0002', 'resume')
    await expect(createMigrator({ url: db.url, dir, ...quiet }).run()).resolves.toMatchObject({ upToDate: true, current: '0002' })
    expect(await db.columns('p1')).toEqual(['x', 'y'])

    // The whole script, fixed, run by hand on another database: the same schema and history as a run.
    const byHand = await target!.fresh()
    const fixed = await createMigrator({ url: target!.offlineUrl, dir, ...quiet }).script({ from: 'base' })
    await myApplyFile(byHand.url, join(dir, 'script.sql'), fixed, true)
    await expect(createMigrator({ url: byHand.url, dir, ...quiet }).run()).resolves.toMatchObject({ upToDate: true, current: '0002' })
    expect(await byHand.query('select count(*) as n from boot_migrate_history_progress')).toEqual([{ n: 0 }])
    expect(await byHand.schema(['boot_migrate_history', 'boot_migrate_history_progress'])).toEqual(await db.schema(['boot_migrate_history', 'boot_migrate_history_progress']))
  })

  it('a DDL revision without a directive that fails at statement 3 of 5: DIRTY names it and statements 1..2; fixed in the file, resume reaches the schema of a clean run', async () => {
    const five = (bad: boolean) =>
      [
        '-- migrate:up',
        'create table a1 (x int primary key);',
        "insert into a1 values (1);",
        `alter table ${bad ? 'missing' : 'a1'} add column y varchar(10) not null default 'y';`,
        'create index a1_y on a1 (y);',
        'create table a5 (x int, foreign key (x) references a1 (x));',
        '',
      ].join('\n')
    const clean = await target!.fresh()
    await createMigrator({ url: clean.url, dir: await revisions({ '0001_five.sql': five(false) }), ...quiet }).run()

    const db = await target!.fresh()
    const dir = await revisions({ '0001_five.sql': five(true) })
    const error = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0001', line: 4 })
    expect(error.message).toContain('statements 1..2 stay applied')
    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(dirty.message).toContain('statements 1..2 of 5 are recorded as applied (lines 2, 3)')
    expect(dirty.message).toContain(`statement 3 at ${join(dir, '0001_five.sql')}:4 (alter table missing add column`)
    await writeFile(join(dir, '0001_five.sql'), five(false))
    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0001', 'resume')
    await expect(createMigrator({ url: db.url, dir, ...quiet }).run()).resolves.toMatchObject({ upToDate: true, current: '0001' })
    const history = ['boot_migrate_history', 'boot_migrate_history_progress']
    expect(await db.schema(history)).toEqual(await clean.schema(history))
    expect(await db.query('select x, y from a1')).toEqual([{ x: 1, y: 'y' }])
  })

  it('a DML-only revision runs in one transaction with its history row: a failure leaves nothing', async () => {
    const db = await target!.fresh()
    await db.exec('create table t (x int primary key)')
    const dir = await revisions({ '0001_rows.sql': '-- migrate:up\ninsert into t values (1);\ninsert into t values (1);\n' })
    const error = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(error.message).toContain('rolled back')
    expect(await db.query('select count(*) as n from t')).toEqual([{ n: 0 }])
    expect(await db.query('select count(*) as n from boot_migrate_history')).toEqual([{ n: 0 }])
  })

  it('refuses DELIMITER, the mysql client command, before anything runs', async () => {
    const db = await target!.fresh()
    const dir = await revisions({ '0001_p.sql': '-- migrate:up\nDELIMITER $$\ncreate procedure p() begin select 1; end$$\nDELIMITER ;\n' })
    const error = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 2 })
    expect(error.message).toContain('"DELIMITER" is a command of the mysql/mariadb client')
  })

  it('runs a procedure with a BEGIN … END body written without DELIMITER, through a mysql2 pool', async () => {
    const db = await target!.fresh()
    const app = db.appClient()
    const dir = await revisions({
      '0001_p.sql': '-- migrate:up\ncreate table t (x int);\ncreate procedure fill(n int)\nbegin\n  declare i int default 0;\n  while i < n do\n    insert into t values (i);\n    set i = i + 1;\n  end while;\nend;\ncall fill(3);\n',
    })
    await createMigrator({ client: app.client, dir, ...quiet }).run()
    expect(await db.query('select count(*) as n from t')).toEqual([{ n: 3 }])
    expect(await db.lockHeld()).toBe(false)
  })

  it('takes a drizzle-orm mysql2 database as db: a function revision gets ctx.db on the migration connection', async () => {
    const db = await target!.fresh()
    const pool = mysql.createPool({ uri: db.url, connectionLimit: 2 })
    try {
      const { drizzle } = await import('drizzle-orm/mysql2')
      const { sql } = await import('drizzle-orm')
      const seen: string[] = []
      const result = await createMigrator({
        db: drizzle(pool),
        migrations: [
          { id: '0001', up: 'create table t (x int)' },
          {
            id: '0002',
            up: async (ctx) => {
              const d = ctx.db as { execute(q: unknown): Promise<unknown>; select?: unknown }
              await d.execute(sql`insert into t values (7)`)
              const [rows] = (await d.execute(sql`select connection_id() as id`)) as unknown as [Array<{ id: number }>]
              seen.push(String(rows[0]!.id))
            },
          },
        ],
        ...quiet,
      }).run()
      expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
      expect(await db.query('select x from t')).toEqual([{ x: 7 }])
      // ctx.db ran on the connection that held the migration lock, which the pool never lent to the app.
      expect(seen).toHaveLength(1)
      expect(await db.lockHeld()).toBe(false)
    } finally {
      await pool.end()
    }
  })
})
