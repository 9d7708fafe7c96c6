// MySQL/MariaDB: kill -9 while a statement of a DDL revision (which runs statement by statement outside a
// transaction) is on the server. The server finishes the statement anyway: it does not watch the client's socket
// while it runs. A DML statement runs in one transaction with its progress record, so it is rolled back with the
// dead session (never completed unrecorded, never run twice); a DDL statement commits implicitly, so it is recorded as
// starting, with a digest of the schema, before it runs: DDL is atomic on MariaDB 10.6+ and MySQL 8, so a schema that
// changed says it completed, one that did not says it left nothing behind, and DIRTY and resume go by that.
// Last: the connection killed while the applied mark is written names the revision and says it is dirty.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { failure, quiet } from '../contract/support.js'
import { targets, type TestDatabase } from '../contract/targets.js'
import { revisions, root } from '../helpers.js'
import { startNode, waitFor } from './helpers.js'

const target = targets.find((t) => t.name === 'mysql')

/** Runs the folder in a worker, kills it with SIGKILL while a statement like `like` runs, and waits until its sessions are gone. */
async function killedDuring(db: TestDatabase, dir: string, like: string) {
  const admin = await mysql.createConnection(db.url)
  try {
    const worker = startNode(join(root, 'test/workers/migrate.mjs'), { url: db.url, dir })
    await waitFor(`a statement like ${like} on the server`, async () => {
      const [rows] = await admin.query('select id from information_schema.processlist where db = database() and info like ?', [like])
      return (rows as unknown[]).length > 0
    })
    worker.child.kill('SIGKILL')
    expect((await worker.exited()).signal).toBe('SIGKILL')
    await waitFor('the killed session to end', async () => {
      const [rows] = await admin.query('select id from information_schema.processlist where db = database() and id <> connection_id()')
      return (rows as unknown[]).length === 0
    })
  } finally {
    await admin.end()
  }
}

const progress = async (db: TestDatabase) => (await db.query<{ step: number }>('select step from boot_migrate_history_progress order by step')).map((r) => Number(r.step))

describe.skipIf(!target)('MySQL/MariaDB: statements the server completes without a progress record, and the final applied write', () => {
  it('a DML statement of a DDL revision is rolled back with its progress record: DIRTY says it did not complete, and resume inserts the row once', async () => {
    const db = await target!.fresh()
    await db.exec('create table log (x int)')
    const dir = await revisions({ '0001_mixed.sql': '-- migrate:up\ncreate table t (x int);\ninsert into log select 1 from dual where sleep(3) = 0;\n' })
    await killedDuring(db, dir, 'insert into log%')
    // Never applied without its record: either both or neither.
    const rows = Number((await db.query<{ n: number }>('select count(*) as n from log'))[0]!.n)
    expect(rows).toBe(0)
    expect(await progress(db)).toEqual([1])

    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(dirty.message).toContain('statement 2 at')
    expect(dirty.message).toContain('it runs in one transaction with its progress record: it did not complete')
    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0001', 'resume')
    expect(await db.query('select x from log')).toEqual([{ x: 1 }])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])
  })

  it('a DDL statement the server completed after the kill: DIRTY says it completed (the schema changed since it started), and resume goes on after it', async () => {
    const db = await target!.fresh()
    const dir = await revisions({ '0001_ddl.sql': '-- migrate:up\ncreate table slow as select sleep(3) as s;\ncreate table after_it (x int);\n' })
    await killedDuring(db, dir, 'create table slow%')
    expect(await db.tables()).toContain('slow')
    // Recorded as starting, with the schema's digest, before it ran; nothing recorded after it.
    expect(await progress(db)).toEqual([1])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'running' }])

    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(dirty.message).toContain('statement 1 of 2 is applied (line 2)')
    expect(dirty.message).toContain('(create table slow as select sleep(3) as s) completed (the schema changed since it was recorded as starting')
    expect(dirty.message).toContain('statement 2 at')
    expect(dirty.message).toContain('runs statement 2')

    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0001', 'resume')
    expect(await db.tables()).toEqual(['after_it', 'boot_migrate_history', 'slow'])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])
    expect(await progress(db)).toEqual([])
  })

  it('a DDL statement whose connection was killed is undone by the server: DIRTY says it did not complete, and resume runs it', async () => {
    const db = await target!.fresh()
    const dir = await revisions({ '0001_ddl.sql': '-- migrate:up\ncreate table first_one (x int);\ncreate table slow as select sleep(2) as s;\ncreate table after_it (x int);\n' })
    const admin = await mysql.createConnection(db.url)
    try {
      const run = failure(createMigrator({ url: db.url, dir, ...quiet }).run())
      const id = await waitFor('the statement on the server', async () => {
        const [rows] = await admin.query("select id from information_schema.processlist where db = database() and info like 'create table slow%'")
        return (rows as Array<{ id: number }>)[0]?.id
      })
      await admin.query(`kill connection ${Number(id)}`)
      const lost = await run
      expect(lost).toMatchObject({ code: 'CONNECTION_LOST', revision: '0001', line: 3 })
      expect(lost.message).toContain('statement 2 may or may not have completed (it was recorded as starting with a digest of the schema')
    } finally {
      await admin.end()
    }
    expect(await db.tables()).toEqual(['boot_migrate_history', 'first_one'])
    expect(await progress(db)).toEqual([1, 2])

    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(dirty.message).toContain('statement 1 of 3 is recorded as applied (line 2)')
    expect(dirty.message).toContain('statement 2 at')
    expect(dirty.message).toContain('did not complete (the schema is as it was when it started')

    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0001', 'resume')
    expect(await db.tables()).toEqual(['after_it', 'boot_migrate_history', 'first_one', 'slow'])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])
  })

  it('a progress table made by an earlier version (no before_schema column) still works: statements are recorded after they complete, and resume reads it', async () => {
    const db = await target!.fresh()
    await db.exec('create table boot_migrate_history_progress (id varchar(255) not null, step integer not null, hash varchar(64) not null, primary key (id, step))')
    const file = '0001_two.sql'
    const dir = await revisions({ [file]: '-- migrate:up\ncreate table a (x int);\ncreate table a (y int);\n' })
    const failed = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(failed).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0001', line: 3 })
    expect(await progress(db)).toEqual([1])

    const dirty = await failure(createMigrator({ url: db.url, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect(dirty.message).toContain('statement 1 of 2 is recorded as applied (line 2)')

    await writeFile(join(dir, file), '-- migrate:up\ncreate table a (x int);\ncreate table b (y int);\n')
    await createMigrator({ url: db.url, dir, ...quiet }).resolve('0001', 'resume')
    expect(await db.tables()).toEqual(['a', 'b', 'boot_migrate_history'])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])
  })

  it('the connection killed during the final applied write: CONNECTION_LOST names the revision, says it is dirty with its statements applied, and how to resolve it', async () => {
    const db = await target!.fresh()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table slow as select sleep(3) as s;\n' })
    const blocker = await mysql.createConnection(db.url)
    try {
      const run = failure(createMigrator({ url: db.url, dir, ddlLockTimeout: 60_000, ...quiet }).run())
      const session = async (like: string) => {
        const [rows] = await blocker.query('select id from information_schema.processlist where db = database() and info like ?', [like])
        return (rows as Array<{ id: number }>)[0]?.id
      }
      await waitFor('the statement on the server', () => session('create table slow%'))
      // The running row is there: holding it makes the applied write wait, and there its connection is killed.
      await blocker.query('start transaction')
      await blocker.query("select * from boot_migrate_history where id = '0001' for update")
      const id = await waitFor('the applied write waiting', () => session('update %boot_migrate_history% set state = %'))
      await blocker.query(`kill connection ${Number(id)}`)
      const error = await run
      await blocker.query('rollback')
      expect(error).toMatchObject({ code: 'CONNECTION_LOST', revision: '0001' })
      expect(error.message).toContain('Revision 0001_slow')
      expect(error.message).toContain('closed while recording it as applied')
      expect(error.message).toContain('that mark may not have landed')
      expect(error.message).toContain('the revision is dirty')
      expect(error.message).toContain('boot-migrate resolve 0001 --applied')
      expect(error.message).not.toContain('outside any revision')
    } finally {
      await blocker.end()
    }
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'running' }])
    expect(await failure(createMigrator({ url: db.url, dir, ...quiet }).run())).toMatchObject({ code: 'DIRTY', revision: '0001' })
  })
})
