import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { client, revisions } from '../helpers.js'
import { eventually, failure, quiet } from './support.js'
import { targets, type Target } from './targets.js'
import { keepsTimeouts, sleepSql } from './timeouts.js'

/** The session's timeout setting, as a value a query returns. */
const setting = (t: Target) => (t.name === 'mysql' ? '@@session.max_statement_time' : `current_setting('statement_timeout')`)

/** 0001 makes table t; 0002 writes a row to it and then sleeps (`head` goes right after its -- migrate:up line). */
const slowSecond = (t: Target, seconds: number, head = '') => ({
  '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
  '0002_slow.sql': `-- migrate:up\n${head}insert into t values (1);\n${sleepSql(t, seconds)};\n`,
})

describe.each(targets.filter(keepsTimeouts))('statement timeouts ($label)', (target) => {
  it('fails a revision that runs past the statementTimeout option with STATEMENT_TIMEOUT, rolled back, the history without it', async () => {
    const db = await target.fresh()
    const dir = await revisions(slowSecond(target, 5))
    const error = await failure(createMigrator({ ...db.connection, dir, statementTimeout: 2000, ddlRetries: 0, ...quiet }).run())
    expect(error).toMatchObject({ code: 'STATEMENT_TIMEOUT', revision: '0002', line: 3 })
    expect(error.message).toContain('statement timeout of 2s (2000 ms, from the statementTimeout option)')
    expect(error.message).toContain('rolled back')
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }])
    expect(await db.query('select count(*) as n from t')).toEqual([{ n: 0 }])
  })

  it('leaves no table behind when the revision that timed out created one', async () => {
    const db = await target.fresh()
    // DDL commits implicitly on MySQL, so there the sleep comes first: a no-transaction revision whose first statement failed.
    const body = target.transactionalDdl ? `create table u (x int);\n${sleepSql(target, 5)};\n` : `${sleepSql(target, 5)};\ncreate table u (x int);\n`
    const dir = await revisions({ '0001_u.sql': `-- migrate:up\n${body}` })
    const error = await failure(createMigrator({ ...db.connection, dir, statementTimeout: 2000, ...quiet }).run())
    expect(error.code).toBe('STATEMENT_TIMEOUT')
    expect(await db.tables()).not.toContain('u')
    expect(await db.query('select id from boot_migrate_history')).toEqual([])
  })

  it('bounds a revision by its -- migrate:statement-timeout directive over a longer option, naming the directive and its line', async () => {
    const db = await target.fresh()
    const dir = await revisions(slowSecond(target, 5, '-- migrate:statement-timeout 2s\n'))
    const error = await failure(createMigrator({ ...db.connection, dir, statementTimeout: 600_000, ...quiet }).run())
    expect(error).toMatchObject({ code: 'STATEMENT_TIMEOUT', revision: '0002', line: 4 })
    expect(error.message).toContain('statement timeout of 2s (2000 ms, from the -- migrate:statement-timeout directive at ')
    expect(error.message).toMatch(/0002_slow\.sql:2\)/)
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }])
  })

  it('applies a revision that finishes under its directive although it runs longer than the option', async () => {
    const db = await target.fresh()
    const dir = await revisions(slowSecond(target, 2, '-- migrate:statement-timeout 1min\n'))
    const result = await createMigrator({ ...db.connection, dir, statementTimeout: 1000, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(await db.query('select count(*) as n from t')).toEqual([{ n: 1 }])
  })

  it('takes statementTimeout from a migrations entry, as a duration string', async () => {
    const db = await target.fresh()
    const error = await failure(
      createMigrator({ ...db.connection, migrations: [{ id: '0001', name: 'slow', up: `${sleepSql(target, 5)};`, statementTimeout: '2s' }], ...quiet }).run(),
    )
    expect(error).toMatchObject({ code: 'STATEMENT_TIMEOUT', revision: '0001' })
    expect(error.message).toContain("statement timeout of 2s (2000 ms, from the revision's statementTimeout)")
  })

  it('leaves a no-transaction revision that timed out after its first statement dirty, resumable', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_nt.sql': `-- migrate:up\n-- migrate:no-transaction\n-- migrate:statement-timeout 2s\ncreate table a (x int);\n${sleepSql(target, 5)};\n`,
    })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'STATEMENT_TIMEOUT', revision: '0001', line: 5 })
    expect(error.message).toContain('dirty')
    expect(error.message).toContain('boot-migrate resolve 0001 --resume')
    expect(await db.query('select state from boot_migrate_history')).toEqual([{ state: 'running' }])
  })

  it('puts the session timeout back after a no-transaction revision, so the next revision runs under the server setting', async () => {
    const db = await target.fresh()
    const [own] = await db.query<{ v: unknown }>(`select ${setting(target)} as v`)
    const dir = await revisions({
      '0001_nt.sql': '-- migrate:up\n-- migrate:no-transaction\n-- migrate:statement-timeout 30s\ncreate table seen (v varchar(40));\n',
      '0002_read.sql': `-- migrate:up\ninsert into seen select ${setting(target)};\n`,
    })
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(await db.query('select v from seen')).toEqual([{ v: String(own!.v) }])
  })

  it.skipIf(target.name !== 'postgres')('still reports a lock wait past ddlLockTimeout as DDL_LOCK_TIMEOUT when a statement timeout is set (55P03, not 57014)', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n' })
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const sql = client(db.url)
    const holder = await sql.reserve()
    try {
      await holder`begin`
      await holder`lock table t in access exclusive mode`
      const more = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_alter.sql': '-- migrate:up\nalter table t add column y int;\n' })
      const error = await failure(createMigrator({ ...db.connection, dir: more, statementTimeout: 600_000, ddlLockTimeout: 100, ddlRetries: 0, ...quiet }).run())
      expect(error).toMatchObject({ code: 'DDL_LOCK_TIMEOUT', revision: '0002' })
    } finally {
      await holder`rollback`
      holder.release()
      await sql.end()
    }
  })

  it.skipIf(!target.processes)('reports a stop() during a revision with a timeout as ABORTED, not STATEMENT_TIMEOUT', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_slow.sql': `-- migrate:up\n${sleepSql(target, 30)};\n` })
    const m = createMigrator({ ...db.connection, dir, statementTimeout: 600_000, ...quiet })
    const run = failure(m.run())
    const activity =
      target.name === 'postgres'
        ? "select count(*) as n from pg_stat_activity where datname = current_database() and query like 'select pg_sleep(30)%' and state = 'active'"
        : "select count(*) as n from information_schema.processlist where db = database() and info like 'select sleep(30)%'"
    await expect.poll(async () => (await db.query<{ n: number }>(activity))[0]!.n, eventually).toBe(1)
    await m.stop()
    expect((await run).code).toBe('ABORTED')
  })
})

describe.each(targets.filter((t) => !keepsTimeouts(t)))('statement timeouts where the database cannot keep them ($label)', (target) => {
  it('refuses the statementTimeout option with INVALID_OPTIONS, saying why, before anything runs', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n' })
    const error = await failure(createMigrator({ ...db.connection, dir, statementTimeout: 1000, ...quiet }).run())
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toContain('cannot cancel a statement that runs too long')
    expect(await db.tables()).toEqual([])
  })

  it('refuses a -- migrate:statement-timeout directive with INVALID_REVISION at its line, before anything runs', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_u.sql': '-- migrate:up\n-- migrate:statement-timeout 5min\ncreate table u (x int);\n',
    })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 2 })
    expect(error.message).toContain('cannot cancel a statement that runs too long')
    expect(await db.tables()).toEqual([])
  })
})
