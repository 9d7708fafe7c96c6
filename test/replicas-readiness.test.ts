// Replica-aware readiness against a real streaming standby (test/setup/pg-replica.mjs): the primary and the standby
// are this file's own, so replay can be paused (pg_wal_replay_pause()) without touching the machine's server.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createMigrator, type MigrationError } from '../src/index.js'
import { freePort } from './setup/embedded-postgres.mjs'
import { replicaSkip, startPgReplica } from './setup/pg-replica.mjs'
import { eventually, failure, quiet } from './contract/support.js'
import { cli, revisions } from './helpers.js'

const skip = replicaSkip()
if (skip) console.warn(`skipping the replica readiness tests: ${skip}`)

const withDb = (url: string, db: string) => Object.assign(new URL(url), { pathname: `/${db}` }).toString()

describe.skipIf(!!skip)('replica-aware readiness (a streaming standby made with pg_basebackup)', () => {
  let server: Awaited<ReturnType<typeof startPgReplica>>
  let admin: postgres.Sql
  let standbyAdmin: postgres.Sql
  const clients: Array<{ end(): Promise<unknown> }> = []
  const sql = (url: string) => {
    const c = postgres(url, { max: 2, onnotice: () => undefined })
    clients.push({ end: () => c.end({ timeout: 1 }) })
    return c
  }

  beforeAll(async () => {
    server = await startPgReplica()
    admin = postgres(server.url, { max: 1, onnotice: () => undefined })
    standbyAdmin = postgres(server.standby, { max: 1, onnotice: () => undefined })
  })
  afterEach(async () => {
    // Replay paused by a test would hold every later test's database back.
    await standbyAdmin?.unsafe('select pg_wal_replay_resume()')
    for (const c of clients.splice(0)) await c.end()
  })
  afterAll(async () => {
    await admin?.end({ timeout: 1 })
    await standbyAdmin?.end({ timeout: 1 })
    await server?.stop()
  })

  /** A new database on the primary, once the standby has it too; `standby` reaches the standby's copy. */
  async function fresh() {
    const name = `bm_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
    await admin.unsafe(`create database "${name}"`)
    const url = withDb(server.url, name)
    const standby = withDb(server.standby, name)
    await expect.poll(async () => (await standbyAdmin`select count(*)::int as n from pg_database where datname = ${name}`)[0]!.n, eventually).toBe(1)
    return { url, standby, onStandby: sql(standby) }
  }
  const pause = () => standbyAdmin.unsafe('select pg_wal_replay_pause()')
  const resume = () => standbyAdmin.unsafe('select pg_wal_replay_resume()')
  const columns = async (on: postgres.Sql, table: string) =>
    (await on`select column_name from information_schema.columns where table_name = ${table} order by ordinal_position`).map((r) => r.column_name as string)
  const twoRevisions = () =>
    revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_y.sql': '-- migrate:up\nalter table t add column y int;\n' })

  it('with replay paused on the standby, run() stays unresolved in waiting-for-replicas with the lag in bytes; once replay resumes it resolves and the standby has the new column', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const m = createMigrator({ url: db.url, dir, replicas: [db.standby], ...quiet })
    const events: string[] = []
    m.on('migration:end', (e) => events.push(`applied ${e.id}`))
    m.on('ready', () => events.push('ready'))
    const run = m.run().then(() => events.push('resolved'))
    await expect.poll(() => m.health().status, eventually).toBe('waiting-for-replicas')
    await expect.poll(() => m.health().replicas?.[0]?.lagBytes ?? 0, eventually).toBeGreaterThan(0)
    expect(m.health()).toMatchObject({ ready: false, replicas: [{ name: db.standby, caughtUp: false, error: null }] })
    expect(await columns(db.onStandby, 't')).toEqual([])
    events.push('resume')
    await resume()
    await run
    expect(events).toEqual(['applied 0001', 'applied 0002', 'resume', 'ready', 'resolved'])
    expect(await columns(db.onStandby, 't')).toEqual(['x', 'y'])
    expect(m.health()).toMatchObject({ status: 'ready', ready: true, replicas: [{ name: db.standby, caughtUp: true, lagBytes: 0, lagSeconds: 0, error: null }] })
  })

  it('when the standby does not catch up within replicaTimeout, the run fails with REPLICA_LAG naming it with its lag in bytes and seconds, and health() keeps the lag', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const m = createMigrator({ url: db.url, dir, replicas: [db.standby], replicaTimeout: 1000, ...quiet })
    const e = await failure(m.run())
    expect(e.code).toBe('REPLICA_LAG')
    expect(e.message).toMatch(new RegExp(`${db.standby.replace(/[.?/]/g, '\\$&')} is \\d+ bytes \\([\\d.]+ s\\) behind`))
    expect(await columns(sql(db.url), 't')).toEqual(['x', 'y'])
    const h = m.health()
    expect(h).toMatchObject({ status: 'failed', error: { code: 'REPLICA_LAG' }, replicas: [{ name: db.standby, caughtUp: false, error: null }] })
    expect(h.replicas![0]!.lagBytes).toBeGreaterThan(0)
  })

  it('the CLI: up --replicas fails with REPLICA_LAG (exit 1) while replay is paused; wait --replicas succeeds once it resumes', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const up = cli(['up', '--url', db.url, '--dir', dir, '--replicas', db.standby, '--replica-timeout', '1000', '--json'])
    expect(up.code).toBe(1)
    expect(up.json()).toMatchObject({ error: { code: 'REPLICA_LAG' } })
    expect(await columns(sql(db.url), 't')).toEqual(['x', 'y'])
    await resume()
    const wait = cli(['wait', '--url', db.url, '--dir', dir, '--replicas', `${db.standby},${db.standby}`, '--json'])
    expect(wait.code).toBe(0)
    expect(await columns(db.onStandby, 't')).toEqual(['x', 'y'])
  })

  it('a replica that is down is reported as unreachable with its reason, waited for only until replicaTimeout, and its password is in neither the error nor health()', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    const closed = await freePort()
    const down = `postgres://app:s3cret-pw@127.0.0.1:${closed}/app`
    const m = createMigrator({ url: db.url, dir, replicas: [db.standby, down], replicaTimeout: 5000, ...quiet })
    const e = await failure(m.run())
    expect(e.code).toBe('REPLICA_LAG')
    expect(e.message).toContain(`1 of 2 read replica(s)`)
    expect(e.message).toContain(`postgres://app:***@127.0.0.1:${closed}/app is unreachable: `)
    expect(e.message).toContain('ECONNREFUSED')
    const h = m.health()
    expect(h.replicas).toMatchObject([
      { name: db.standby, caughtUp: true },
      { name: `postgres://app:***@127.0.0.1:${closed}/app`, caughtUp: false, lagBytes: null, error: expect.stringContaining('ECONNREFUSED') },
    ])
    expect(JSON.stringify(h) + e.message + e.stack).not.toContain('s3cret-pw')
  })

  it('the no-op boot with replicas sends one statement to each replica and none but the history read to the primary', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await createMigrator({ url: db.url, dir, replicas: [db.standby], ...quiet }).run()
    const record = (url: string) => {
      const statements: string[] = []
      const c = postgres(url, { max: 1, onnotice: () => undefined, debug: (_c, q) => void statements.push(q) })
      clients.push({ end: () => c.end({ timeout: 1 }) })
      return { c, statements }
    }
    const app = record(db.url)
    const [a, b] = [record(db.standby), record(db.standby)]
    // Connected first: postgres.js looks up array types on a new connection, which is the driver's, not ours.
    for (const x of [app, a, b]) {
      await x.c`select 1`
      x.statements.length = 0
    }
    const pool = new pg.Pool({ connectionString: db.standby, max: 1 })
    clients.push(pool)
    const poolStatements: string[] = []
    const query = pool.query.bind(pool) as (text: string, params?: unknown[]) => Promise<unknown>
    Object.assign(pool, { query: (text: string, params?: unknown[]) => (poolStatements.push(text), query(text, params)) })
    const result = await createMigrator({ client: app.c, dir, replicas: [a.c, b.c, pool], ...quiet }).run()
    expect(result).toMatchObject({ upToDate: true, applied: [], current: '0002' })
    expect(a.statements).toHaveLength(1)
    expect(b.statements).toHaveLength(1)
    expect(poolStatements).toHaveLength(1)
    expect(a.statements[0]).toMatch(/boot_migrate_history/)
    expect(app.statements).toHaveLength(1)
    expect(app.statements.join('\n')).not.toMatch(/wal_lsn/)
    // The app's clients are the app's: still open.
    expect((await a.c`select 1 as one`)[0]).toEqual({ one: 1 })
    expect((await pool.query('select 1 as one')).rows).toEqual([{ one: 1 }])
  })

  it('the no-op boot asks the replicas in parallel: the first one answers only once the second has been asked', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await createMigrator({ url: db.url, dir, replicas: [db.standby], ...quiet }).run()
    let secondAsked!: () => void
    const asked = new Promise<void>((resolve) => (secondAsked = resolve))
    const replica = (before: () => Promise<void>) => {
      const pool = new pg.Pool({ connectionString: db.standby, max: 1 })
      clients.push(pool)
      const query = pool.query.bind(pool) as (text: string, params?: unknown[]) => Promise<unknown>
      return Object.assign(pool, { query: async (text: string, params?: unknown[]) => (await before(), query(text, params)) })
    }
    const first = replica(() => asked)
    const second = replica(async () => secondAsked())
    // Asked one after the other, the first would never answer: REPLICA_LAG after replicaTimeout.
    const result = await createMigrator({ url: db.url, dir, replicas: [first, second], replicaTimeout: 10_000, ...quiet }).run()
    expect(result).toMatchObject({ upToDate: true })
  })

  it('mode "wait": once another process has reached the target, readiness still waits for the replica to replay it', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const waiting = createMigrator({ url: db.url, dir, mode: 'wait', replicas: [db.standby], ...quiet })
    const events: string[] = []
    const run = waiting.run().then((r) => (events.push('resolved'), r))
    await expect.poll(() => waiting.health().status, eventually).toBe('waiting-for-migration')
    await createMigrator({ url: db.url, dir, ...quiet }).run()
    events.push('migrated by the other process')
    await expect.poll(() => waiting.health().status, eventually).toBe('waiting-for-replicas')
    events.push('resume')
    await resume()
    expect(await run).toMatchObject({ upToDate: true, applied: [] })
    expect(events).toEqual(['migrated by the other process', 'resume', 'resolved'])
    expect(await columns(db.onStandby, 't')).toEqual(['x', 'y'])
  })

  it('a second migrator that finds the target already applied waits for the replica before it resolves', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    await createMigrator({ url: db.url, dir, ...quiet }).run()
    const second = createMigrator({ url: db.url, dir, replicas: [db.standby], ...quiet })
    let resolved = false
    const run = second.run().then((r) => ((resolved = true), r))
    await expect.poll(() => second.health().status, eventually).toBe('waiting-for-replicas')
    expect(resolved).toBe(false)
    await resume()
    expect(await run).toMatchObject({ upToDate: true, applied: [] })
  })

  it('stop() while it waits for a replica ends the run with ABORTED, the migration applied', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const m = createMigrator({ url: db.url, dir, replicas: [db.standby], ...quiet })
    const run = failure(m.run())
    await expect.poll(() => m.health().status, eventually).toBe('waiting-for-replicas')
    await m.stop()
    expect((await run).code).toBe('ABORTED')
    expect(await columns(sql(db.url), 't')).toEqual(['x', 'y'])
  })

  it('closes the connections it opened to replica URLs once the replicas caught up', async () => {
    const db = await fresh()
    const dir = await twoRevisions()
    await pause()
    const m = createMigrator({ url: db.url, dir, replicas: [db.standby], instanceId: 'replica-close', ...quiet })
    const run = m.run()
    await expect.poll(() => m.health().status, eventually).toBe('waiting-for-replicas')
    const ours = async () =>
      (await standbyAdmin`select count(*)::int as n from pg_stat_activity where application_name = 'boot-migrate replica-close replica'`)[0]!.n
    expect(await ours()).toBe(1)
    await resume()
    await run
    await expect.poll(ours, eventually).toBe(0)
  })
})

describe('replicas option', () => {
  const bad = async (options: Record<string, unknown>) => {
    const e = (await createMigrator({ migrations: [{ id: '0001', up: 'select 1' }], ...quiet, ...options }).run().catch((x: unknown) => x)) as MigrationError
    expect(e.code).toBe('INVALID_OPTIONS')
    return e.message
  }

  it('is INVALID_OPTIONS on SQLite, which has no replicas the migrator can ask', async () => {
    expect(await bad({ url: 'sqlite::memory:', replicas: ['postgres://u:pw-secret@127.0.0.1:5433/app'] })).toMatch(/"replicas" is for PostgreSQL streaming replicas.*SQLite/)
  })

  it('is INVALID_OPTIONS on MySQL', async () => {
    expect(await bad({ url: 'mysql://root@127.0.0.1:3306/test', replicas: ['postgres://127.0.0.1:5433/app'] })).toMatch(/"replicas" is for PostgreSQL streaming replicas.*MySQL/)
  })

  it('names an entry that is neither a postgres:// URL nor a PostgreSQL client, without its password', async () => {
    const message = await bad({ url: 'postgres://127.0.0.1:1/x', replicas: ['mysql://u:pw-secret@h/db', 42] })
    expect(message).toContain('"replicas[0]" must be a postgres:// URL')
    expect(message).toContain('"replicas[1]" must be a postgres:// URL, a postgres.js sql instance or a node-postgres (pg) Pool or Client, got 42 (number)')
    expect(message).not.toContain('pw-secret')
  })

  it('takes replicaTimeout in milliseconds', async () => {
    expect(await bad({ url: 'postgres://127.0.0.1:1/x', replicas: [], replicaTimeout: -1 })).toContain('"replicaTimeout" must be a number of milliseconds')
  })
})
