// MySQL/MariaDB-specific behaviour, beyond the contract suite: metadata-lock waits, the lock holder, DELIMITER.
import mysql from 'mysql2/promise'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { revisions } from './helpers.js'
import { failure, quiet } from './contract/support.js'
import { targets } from './contract/targets.js'

const target = targets.find((t) => t.name === 'mysql')

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
    const run = failure(createMigrator({ url: db.url, dir, ddlLockTimeout: 1000, ddlRetries: 1, logger }).run())
    // A reader arriving while the ALTER waits is queued behind its metadata lock, for at most ddlLockTimeout.
    await new Promise((r) => setTimeout(r, 300))
    const t0 = Date.now()
    await db.query('select * from t')
    expect(Date.now() - t0).toBeLessThan(2500)
    const error = await run
    await blocker.query('rollback')
    await blocker.end()
    expect(error).toMatchObject({ code: 'DDL_LOCK_TIMEOUT', revision: '0001' })
    expect(error.message).toContain('statement 1 stays applied')
    expect(lines.join('\n')).toMatch(/statement 2 waited over 1000 ms for a lock held by connection \d+ \(root@/)
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'running' }])
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
})
