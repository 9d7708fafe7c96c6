// A no-transaction revision whose second statement meets a table lock held by another session. Its
// first statement has run and stays: a retry must re-run only the statement that waited, and when the
// retries run out the revision is dirty with that first statement applied exactly once.
import type postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { captureLog, client, freshDatabase, revisions } from '../helpers.js'
import { column, history, outcome, waitFor, within } from './helpers.js'

type Sql = postgres.Sql<Record<string, postgres.PostgresType>>

const files = {
  '0001_tables.sql': '-- migrate:up\ncreate table t (x int);\ncreate table log (x int);\n',
  '0002_alter.sql': '-- migrate:up\n-- migrate:no-transaction\ninsert into log values (1);\nalter table t add column y int;\n',
}

/** Applies 0001, then holds `lock table t in access share mode` in an open transaction on another session. */
async function blockedByReader() {
  const url = await freshDatabase()
  const dir = await revisions(files)
  await createMigrator({ url, dir, to: '0001', logger: false }).run()
  const sql = client(url)
  const blocker = await sql.reserve()
  await blocker`begin`
  await blocker`lock table t in access share mode`
  let released = false
  const release = async () => {
    if (released) return
    released = true
    await blocker`rollback`
    blocker.release()
  }
  return { url, dir, sql, release }
}

const hasColumnY = async (sql: Sql) =>
  (await sql`select 1 from information_schema.columns where table_name = 't' and column_name = 'y'`).length === 1

describe('PostgreSQL: a no-transaction revision whose second statement waits for a table lock', () => {
  it('retries only the blocked statement once the blocker is gone: applied, the first statement ran exactly once', async () => {
    const { url, dir, sql, release } = await blockedByReader()
    const log = captureLog()
    const run = outcome(createMigrator({ url, dir, ddlLockTimeout: 200, ddlRetries: 50, logger: log.logger }).run())
    try {
      await waitFor('the migrator to log a retry of the blocked statement', () => /retry/i.test(log.text())).catch((e: Error) => {
        throw new Error(`${e.message}\n--- migrator log ---\n${log.text()}`)
      })
    } finally {
      await release()
    }
    const result = await within('run() after the blocker released its lock', run)
    expect(result.error, log.text()).toBeUndefined()
    expect(await column(sql, 'log')).toEqual([1])
    expect(await hasColumnY(sql)).toBe(true)
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('when the retries run out: DDL_LOCK_TIMEOUT or DIRTY saying statement 1 stays applied, the revision is dirty, the insert ran once', async () => {
    const { url, dir, sql, release } = await blockedByReader()
    try {
      const run = await within('run() against a lock that is never released', outcome(createMigrator({ url, dir, ddlLockTimeout: 200, ddlRetries: 2, logger: false }).run()))
      expect(['DDL_LOCK_TIMEOUT', 'DIRTY']).toContain(run.error?.code)
      expect(run.error).toMatchObject({ revision: '0002' })
      // e.g. "statements 1..1 of 0002_alter stay applied"
      expect(run.error!.message).toMatch(/statements? 1(\s*(\.\.|-|–|to)\s*1)?\b/i)
      expect(run.error!.message).toMatch(/applied/i)
      expect(await history(sql)).toEqual([
        { id: '0001', state: 'applied' },
        { id: '0002', state: 'running' },
      ])
      expect(await column(sql, 'log')).toEqual([1])
      expect(await hasColumnY(sql)).toBe(false)
    } finally {
      await release()
    }
  })

  it('after the retries ran out, the next boot reports DIRTY and does not run statement 1 again', async () => {
    const { url, dir, sql, release } = await blockedByReader()
    try {
      await within('run() against a lock that is never released', outcome(createMigrator({ url, dir, ddlLockTimeout: 200, ddlRetries: 2, logger: false }).run()))
    } finally {
      await release()
    }
    const next = await within('the next boot', outcome(createMigrator({ url, dir, logger: false }).run()))
    expect(next.error).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(await column(sql, 'log')).toEqual([1])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
  })
})
