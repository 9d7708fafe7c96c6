import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions } from '../helpers.js'
import { myApplyFile } from './schema.js'
import { failure, quiet } from './support.js'
import { targets, type Target } from './targets.js'
import { keepsTimeouts, sleepSql } from './timeouts.js'

/**
 * Per dialect: the error a statement stopped by its timeout gives, and the lines the offline script sets and puts
 * back the timeout with (`local`: inside the revision's transaction).
 */
interface Lines {
  timedOut: RegExp
  set(ms: number, local: boolean): string
  reset(local: boolean): string[]
}
const dialects: Record<Target['name'], Lines | undefined> = {
  postgres: {
    timedOut: /canceling statement due to statement timeout/,
    set: (ms: number, local: boolean) => `set${local ? ' local' : ''} statement_timeout = '${ms}ms';`,
    // SET LOCAL ends with the transaction: nothing to put back after a transactional revision.
    reset: (local: boolean) => (local ? [] : ['reset statement_timeout;']),
  },
  mysql: {
    timedOut: /max_statement_time exceeded/,
    set: (ms: number) => `/*M! set session max_statement_time = ${ms / 1000} */;`,
    reset: () => ['/*M! set session max_statement_time = default */;'],
  },
  sqlite: undefined,
}
const sqlOf = (t: Target) => dialects[t.name]!

/** The offline script of every revision in `files`, with `options`. */
const scriptOf = async (t: Target, files: Record<string, string>, options: { statementTimeout?: number } = {}) =>
  createMigrator({ url: t.offlineUrl, dir: await revisions(files), ...options, ...quiet }).script({ from: 'base' })

/** The part of a script for one revision: from its `-- up <label>` line to the next revision's. */
const section = (text: string, label: string) => {
  const start = text.indexOf(`-- up ${label} `)
  expect(start).toBeGreaterThan(0)
  const end = text.indexOf('\n-- up ', start + 1)
  return text.slice(start, end < 0 ? undefined : end)
}

/** Expects each of `lines` in `text`, in this order. */
const inOrder = (text: string, lines: string[]) => {
  const at = lines.map((l) => text.indexOf(l))
  expect(at.every((i) => i >= 0), `missing one of ${JSON.stringify(lines)} in:\n${text}`).toBe(true)
  expect(at).toEqual([...at].sort((a, b) => a - b))
}

describe.each(targets.filter(keepsTimeouts))('statement timeouts in the offline script ($label)', (target) => {
  it('a script run by hand stops a revision that runs past its -- migrate:statement-timeout, with the database timeout error, not recorded', async () => {
    const db = await target.fresh()
    const text = await scriptOf(target, {
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_slow.sql': `-- migrate:up\n-- migrate:statement-timeout 2s\ninsert into t values (1);\n${sleepSql(target, 10)};\n`,
    })
    const error = await failure(db.exec(text))
    expect(error.message).toMatch(sqlOf(target).timedOut)
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }])
    // Transactional: the row written before the sleep is rolled back with it.
    expect(await db.query('select count(*) as n from t')).toEqual([{ n: 0 }])
  })

  it('puts the timeout back after the revision: a later revision without one runs longer and applies', async () => {
    const db = await target.fresh()
    const files = {
      '0001_t.sql': '-- migrate:up\n-- migrate:statement-timeout 2s\ncreate table t (x int);\n',
      '0002_nt.sql': '-- migrate:up\n-- migrate:no-transaction\n-- migrate:statement-timeout 2s\ninsert into t values (1);\n',
      '0003_slow.sql': `-- migrate:up\n${sleepSql(target, 3)};\n`,
    }
    const text = await scriptOf(target, files)
    expect(section(text, '0003_slow')).not.toMatch(/statement_timeout|max_statement_time/)
    // Run as a DBA runs it: psql -f, or the mariadb client (which keeps MariaDB's executable comments).
    const file = join(await mkdtemp(join(tmpdir(), 'script-timeout-')), 'up.sql')
    await writeFile(file, text)
    await (target.name === 'mysql' ? myApplyFile(db.url, file, text, true) : db.applyFile(file))
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }, { id: '0002' }, { id: '0003' }])
    const dir = await revisions(files)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, current: '0003' })
  })

  it('sets the timeout where a run sets it and puts it back after the final history write', async () => {
    const d = sqlOf(target)
    const text = await scriptOf(target, {
      '0001_tx.sql': '-- migrate:up\n-- migrate:statement-timeout 2s\nselect 1;\n',
      '0002_nt.sql': '-- migrate:up\n-- migrate:no-transaction\n-- migrate:statement-timeout 1500ms\nselect 2;\n',
    })
    const history = target.historyTable
    const tx = section(text, '0001_tx')
    const begin = target.name === 'mysql' ? 'start transaction;' : 'begin;'
    inOrder(tx, [begin, d.set(2000, true), 'select 1;', `insert into ${history}`, 'commit;', ...d.reset(true)])
    if (!d.reset(true).length) expect(tx).not.toContain('reset')
    const nt = section(text, '0002_nt')
    inOrder(nt, [d.set(1500, false), `insert into ${history}`, 'select 2;', `update ${history} set state = 'applied'`, ...d.reset(false)])
  })

  it('takes the statementTimeout option for a revision without its own, which it bounds as a run does', async () => {
    const db = await target.fresh()
    const text = await scriptOf(
      target,
      {
        '0001_own.sql': '-- migrate:up\n-- migrate:statement-timeout 1min\ncreate table t (x int);\n',
        '0002_slow.sql': `-- migrate:up\n${sleepSql(target, 10)};\n`,
      },
      { statementTimeout: 2000 },
    )
    expect(section(text, '0001_own')).toContain(sqlOf(target).set(60_000, target.transactionalDdl))
    expect(section(text, '0002_slow')).toContain(sqlOf(target).set(2000, true))
    const error = await failure(db.exec(text))
    expect(error.message).toMatch(sqlOf(target).timedOut)
    expect(await db.query('select id from boot_migrate_history order by id')).toEqual([{ id: '0001' }])
  })
})

describe.each(targets.filter((t) => !keepsTimeouts(t)))('statement timeouts in the offline script where the database cannot keep them ($label)', (target) => {
  it('refuses a -- migrate:statement-timeout directive with INVALID_REVISION, as a run does', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_u.sql': '-- migrate:up\n-- migrate:statement-timeout 5min\ncreate table u (x int);\n' })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).script({ from: 'base' }))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0001', line: 2 })
    expect(error.message).toBe((await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())).message)
  })

  it('refuses the statementTimeout option with INVALID_OPTIONS, as a run does', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_u.sql': '-- migrate:up\ncreate table u (x int);\n' })
    const error = await failure(createMigrator({ ...db.connection, dir, statementTimeout: 1000, ...quiet }).script({ from: 'base' }))
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toBe((await failure(createMigrator({ ...db.connection, dir, statementTimeout: 1000, ...quiet }).run())).message)
  })
})
