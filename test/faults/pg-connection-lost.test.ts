// The migration connection dies in the middle of a revision: its backend is terminated (by itself, from
// outside, or by idle_in_transaction_session_timeout). The revision's transaction is gone with it, so the run
// must say so (CONNECTION_LOST), leave nothing of the revision behind, never run the rest of it on a new
// connection, and free the lock.
import type postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrationContext } from '../../src/index.js'
import { client, freshDatabase, revisions } from '../helpers.js'
import { backendRunning, crashed, history, noMigrationLeftovers, outcome, rowCount, startNode, waitFor, watchCrashes, within, workers } from './helpers.js'

type Sql = postgres.Sql<Record<string, postgres.PostgresType>>

const createT = '-- migrate:up\ncreate table t (x int);\n'

/**
 * 0002: 300 inserts into t and, as statement 51, a statement that terminates the migration backend itself:
 * deterministic, and far beyond postgres.js's pipeline depth (100), so 200 of the inserts and the history row
 * are still queued in the driver when the connection closes.
 */
function selfTerminating(fixed = false) {
  const statements = Array.from({ length: 300 }, (_, i) => `insert into t values (${i + 1});`)
  statements.splice(50, 0, fixed ? 'select 1;' : 'select pg_terminate_backend(pg_backend_pid());')
  return `-- migrate:up\n${statements.join('\n')}\n`
}

async function dieAtStatement51() {
  const url = await freshDatabase()
  const dir = await revisions({ '0001_t.sql': createT, '0002_fill.sql': selfTerminating() })
  const run = await within('run() after its backend terminated itself', outcome(createMigrator({ url, dir, logger: false }).run()))
  return { url, run }
}

describe('PostgreSQL: the migration backend is terminated inside a transactional revision', () => {
  it('rejects with CONNECTION_LOST saying the revision was rolled back because the connection closed', async () => {
    const { run } = await dieAtStatement51()
    expect(run.ok).toBe(false)
    expect(run.error).toMatchObject({ name: 'MigrationError', code: 'CONNECTION_LOST' })
    expect(run.error!.message).toMatch(/rolled back/i)
    expect(run.error!.message).toMatch(/connection/i)
  })

  it('commits none of its 300 inserts (not even those queued behind the pipeline) nor its history row, and frees the lock', async () => {
    const crashes = watchCrashes()
    const { url } = await dieAtStatement51()
    const sql = client(url)
    expect(await rowCount(sql, 't')).toBe(0)
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    await noMigrationLeftovers(sql)
    // Still nothing after the lock is gone: no statement ran late on a reconnected session.
    expect(await rowCount(sql, 't')).toBe(0)
    expect(crashes.seen, crashes.describe()).toEqual([])
  })

  it('applies the fixed revision exactly once on the next boot: 300 rows, never 501', async () => {
    const { url } = await dieAtStatement51()
    const fixed = await revisions({ '0001_t.sql': createT, '0002_fill.sql': selfTerminating(true) })
    const result = await createMigrator({ url, dir: fixed, logger: false }).run()
    expect(result.applied.map((a) => a.id)).toEqual(['0002'])
    const sql = client(url)
    expect(await rowCount(sql, 't')).toBe(300)
    expect(await sql`select count(distinct x)::int as n, min(x) as lo, max(x) as hi from t`).toEqual([{ n: 300, lo: 1, hi: 300 }])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('a worker whose backend is terminated from outside during pg_sleep exits with CONNECTION_LOST and commits nothing of the revision', async () => {
    const url = await freshDatabase()
    const inserts = (from: number) => Array.from({ length: 20 }, (_, i) => `insert into t values (${from + i});`).join('\n')
    const dir = await revisions({
      '0001_t.sql': createT,
      '0002_many.sql': `-- migrate:up\n${inserts(1)}\nselect pg_sleep(30);\n${inserts(21)}\n`,
    })
    const worker = startNode(workers.run, { url, dir, instanceId: 'terminated-from-outside' })
    const sql = client(url)
    const sleeping = await waitFor('the migration backend to be in pg_sleep', () => backendRunning(sql, /pg_sleep/, 'terminated-from-outside'))
    expect(await sql`select pg_terminate_backend(${sleeping.pid}) as ok`).toEqual([{ ok: true }])

    const run = await worker.exited()
    expect(run.error, run.stdout).toMatchObject({ code: 'CONNECTION_LOST' })
    expect(run.code, run.stdout).toBe(1)
    expect(run.signal).toBeNull()
    expect(crashed(run.stdout), run.stdout).toBe(false)
    expect(await rowCount(sql, 't')).toBe(0)
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    await noMigrationLeftovers(sql)
  })
})

describe('PostgreSQL: the connection closes between two queries of a JS revision', () => {
  /** A JS revision whose session is ended by idle_in_transaction_session_timeout while it waits between two inserts. */
  const idleKilled = (sql: Sql) => [
    { id: '0001', name: 't', up: 'create table t (x int);' },
    {
      id: '0002',
      name: 'idle',
      async up(ctx: MigrationContext) {
        const tx = ctx.sql as Sql
        await tx`insert into t values (1)`
        const [{ pid }] = (await tx`select pg_backend_pid() as pid`) as unknown as [{ pid: number }]
        await tx`set local idle_in_transaction_session_timeout = '200ms'`
        // Wait (in JS, idle in the transaction) until the server has ended the session.
        await waitFor('the server to end the idle migration session', async () => (await sql`select 1 from pg_stat_activity where pid = ${pid}`).length === 0)
        await tx`insert into t values (2)`
      },
    },
  ]

  it('rejects with CONNECTION_LOST', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    const run = await within('run()', outcome(createMigrator({ url, migrations: idleKilled(sql), logger: false }).run()))
    expect(run.error).toMatchObject({ code: 'CONNECTION_LOST', revision: '0002' })
  })

  it('commits neither insert (the second one never runs on a new connection), records nothing, frees the lock and does not crash', async () => {
    const crashes = watchCrashes()
    const url = await freshDatabase()
    const sql = client(url)
    await within('run()', outcome(createMigrator({ url, migrations: idleKilled(sql), logger: false }).run()))
    expect(await rowCount(sql, 't')).toBe(0)
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    await noMigrationLeftovers(sql)
    expect(await rowCount(sql, 't')).toBe(0)
    expect(crashes.seen, crashes.describe()).toEqual([])
  })
})
