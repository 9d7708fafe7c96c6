// The PostgreSQL server restarts (fast shutdown, same port, data kept) while a revision runs or while
// another process waits for the migration lock. Uses a server of the file's own: a restart ends every
// session on it.
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions } from '../helpers.js'
import { backendRunning, history, outcome, watchCrashes, ownPostgres, rowCount, startNode, waitFor, within, workers, type OwnPostgres } from './helpers.js'

let server: OwnPostgres
beforeAll(async () => {
  server = await ownPostgres()
})
afterAll(() => server?.stop())

const clients: postgres.Sql[] = []
afterAll(() => Promise.all(clients.map((c) => c.end({ timeout: 1 }))))
/** A check client; a new one after a restart, so that no check runs on a session the restart ended. */
const check = (url: string) => {
  const sql = postgres(url, { max: 2, onnotice: () => undefined })
  clients.push(sql)
  return sql
}

/** 0002 sleeps for as long as the knob says (30 s at first: far longer than the restart), between two inserts. */
const slowRevision = {
  '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ncreate table knob (s float8);\ninsert into knob values (30);\n',
  '0002_slow.sql': '-- migrate:up\ninsert into t values (1);\nselect pg_sleep((select s from knob));\ninsert into t values (2);\n',
}

/** Runs 0001 and 0002 in this process and restarts the server while 0002 sleeps; returns the run's outcome. */
async function restartDuringRevision() {
  const url = await server.database()
  const dir = await revisions(slowRevision)
  const run = outcome(createMigrator({ url, dir, logger: false, instanceId: 'restarted' }).run())
  const before = check(url)
  await waitFor('0002 to be sleeping', () => backendRunning(before, /pg_sleep/, 'restarted'))
  await server.restart()
  return { url, dir, run: await within('run() after the server restarted', run) }
}

describe('PostgreSQL: the server restarts in the middle of a revision', () => {
  it('the run rejects with CONNECTION_LOST (no crash), and after the restart nothing of the revision is there', async () => {
    const crashes = watchCrashes()
    const { url, run } = await restartDuringRevision()
    expect(run.error).toMatchObject({ code: 'CONNECTION_LOST', revision: '0002' })
    const sql = check(url)
    expect(await rowCount(sql, 't')).toBe(0)
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    expect(crashes.seen, crashes.describe()).toEqual([])
  })

  it('the next boot applies the revision exactly once', async () => {
    const { url, dir } = await restartDuringRevision()
    const sql = check(url)
    await sql`update knob set s = 0`
    const result = await createMigrator({ url, dir, logger: false }).run()
    expect(result.applied.map((a) => a.id)).toEqual(['0002'])
    expect(await sql`select x from t order by x`).toEqual([{ x: 1 }, { x: 2 }])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })
})

describe('PostgreSQL: a process waiting for the migration lock while the server restarts', () => {
  it('reconnects and ends with the revision applied exactly once, never failing on the reset connection', async () => {
    const url = await server.database()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ncreate sequence attempts;\n',
      // Whoever runs 0002 first sleeps far longer than the restart; any later attempt does not sleep.
      '0002_slow.sql': "-- migrate:up\nselect pg_sleep(case when nextval('attempts') = 1 then 30 else 0 end);\ninsert into t values (1);\n",
    })
    const patient = { lockTimeout: 60_000, connectTimeout: 60_000 }
    const a = startNode(workers.run, { url, dir, instanceId: 'holder-a', ...patient })
    const before = check(url)
    await waitFor('A to sleep in 0002 holding the lock', () => backendRunning(before, /pg_sleep/, 'holder-a'))
    const b = startNode(workers.run, { url, dir, instanceId: 'waiter-b', ...patient })
    await b.printed('waiting for the migration lock')

    await server.restart()
    const [ra, rb] = await Promise.all([a.exited(40_000), b.exited(40_000)])

    expect(rb.error, rb.stdout).toBeUndefined()
    expect(rb.code, rb.stdout).toBe(0)
    expect(rb.result?.current, rb.stdout).toBe('0002')
    // A lost its connection in the middle of 0002: it reports so (or, reconnected, finished the work itself).
    if (ra.error) expect(ra.error, ra.stdout).toMatchObject({ code: 'CONNECTION_LOST' })
    const appliedBy = [ra, rb].flatMap((r) => r.result?.applied.map((x) => x.id) ?? []).filter((id) => id === '0002')
    expect(appliedBy, ra.stdout + rb.stdout).toEqual(['0002'])

    const sql = check(url)
    expect(await rowCount(sql, 't')).toBe(1)
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })
})
