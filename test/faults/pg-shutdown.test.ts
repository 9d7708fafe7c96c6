// Shutdown and process death in the middle of a revision: stop() with a JS revision that never settles,
// SIGKILL (the server ends the session) and SIGTERM handled by an app that calls migrator.stop().
import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrateOptions, type MigrationContext } from '../../src/index.js'
import { client, freshDatabase, revisions } from '../helpers.js'
import { backendRunning, column, history, migrationBackends, noMigrationLeftovers, outcome, startNode, waitFor, watchCrashes, within, workers } from './helpers.js'

/** `shutdownTimeout` is new; typed here until MigrateOptions declares it. */
type Options = MigrateOptions & { shutdownTimeout?: number }

const knobbed = '-- migrate:up\ncreate table t (x int);\ncreate table knob (s float8);\ninsert into knob values (30);\n'
/** Sleeps as long as the knob says (30 s: the fault comes first) between two inserts. */
const slow = (noTransaction = false) =>
  `-- migrate:up\n${noTransaction ? '-- migrate:no-transaction\n' : ''}insert into t values (1);\nselect pg_sleep((select s from knob));\ninsert into t values (2);\n`

describe('PostgreSQL: stop() while a JS revision never settles and ignores ctx.signal', () => {
  it('resolves after shutdownTimeout, leaves no lock, no session idle in transaction and nothing committed; ready rejects with ABORTED', async () => {
    const crashes = watchCrashes()
    const url = await freshDatabase()
    const options: Options = {
      url,
      logger: false,
      instanceId: 'never-settles',
      shutdownTimeout: 1000,
      migrations: [
        { id: '0001', name: 't', up: 'create table t (x int);' },
        {
          id: '0002',
          name: 'hangs',
          async up(ctx: MigrationContext) {
            await (ctx.sql as (s: TemplateStringsArray) => Promise<unknown>)`insert into t values (1)`
            await new Promise(() => {})
          },
        },
      ],
    }
    const m = createMigrator(options)
    const ready = outcome(m.ready)
    m.start()
    const sql = client(url)
    await waitFor('the revision to be migrating, idle in its transaction after the insert', async () => {
      if (m.health().status !== 'migrating') return false
      return (await migrationBackends(sql)).some((b) => b.state === 'idle in transaction')
    })

    await within('stop()', m.stop())
    await noMigrationLeftovers(sql)
    await waitFor("the migrator's sessions to be closed", async () => (await migrationBackends(sql)).length === 0)
    expect(await column(sql, 't')).toEqual([])
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    expect((await within('ready', ready)).error).toMatchObject({ code: 'ABORTED' })
    expect(crashes.seen, crashes.describe()).toEqual([])
  })
})

describe('PostgreSQL: a worker killed with SIGKILL in the middle of a revision', () => {
  it('transactional: nothing of it stays, and the next boot applies it exactly once', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_t.sql': knobbed, '0002_slow.sql': slow() })
    const worker = startNode(workers.run, { url, dir, instanceId: 'sigkilled' })
    const sql = client(url)
    await waitFor('0002 to be sleeping', () => backendRunning(sql, /pg_sleep/, 'sigkilled'))
    worker.child.kill('SIGKILL')
    expect((await worker.exited()).signal).toBe('SIGKILL')
    await sql`update knob set s = 0`

    const result = await within('the next boot', createMigrator({ url, dir, logger: false, lockTimeout: 30_000 }).run())
    expect(result.applied.map((a) => a.id)).toEqual(['0002'])
    expect(await column(sql, 't')).toEqual([1, 2])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('no-transaction: the next boot reports DIRTY and runs none of it again', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_t.sql': knobbed, '0002_slow.sql': slow(true) })
    const worker = startNode(workers.run, { url, dir, instanceId: 'sigkilled-outside' })
    const sql = client(url)
    await waitFor('0002 to be sleeping', () => backendRunning(sql, /pg_sleep/, 'sigkilled-outside'))
    worker.child.kill('SIGKILL')
    expect((await worker.exited()).signal).toBe('SIGKILL')
    await sql`update knob set s = 0`

    const next = await within('the next boot', outcome(createMigrator({ url, dir, logger: false, lockTimeout: 30_000 }).run()))
    expect(next.error).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(await column(sql, 't')).toEqual([1])
    expect(await history(sql)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
  })
})

describe('PostgreSQL: SIGTERM to an app whose handler calls migrator.stop()', () => {
  it('during a transactional SQL revision: the worker exits with ABORTED; each revision is applied with its effects or absent', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': knobbed,
      '0002_slow.sql': slow(),
      '0003_after.sql': '-- migrate:up\ninsert into t values (3);\n',
    })
    const worker = startNode(workers.stopOnSigterm, { url, dir, instanceId: 'sigtermed' })
    const sql = client(url)
    await waitFor('0002 to be sleeping', () => backendRunning(sql, /pg_sleep/, 'sigtermed'))
    worker.child.kill('SIGTERM')
    const run = await worker.exited()
    expect(run.code, run.stdout).toBe(1)
    expect(run.error, run.stdout).toMatchObject({ code: 'ABORTED' })
    expect(run.stdout).toContain('STOPPED')
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    expect(await column(sql, 't')).toEqual([])
    await noMigrationLeftovers(sql)
    await waitFor("the migrator's sessions to be closed", async () => (await migrationBackends(sql)).length === 0)
  })

  it('during a JS revision that ignores ctx.signal and never settles: the worker still exits (after shutdownTimeout) with ABORTED, nothing committed', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_hangs.mjs':
        'export async function up({ sql }) {\n' +
        '  await sql`insert into t values (1)`\n' +
        "  console.log('INSERTED')\n" +
        '  await new Promise(() => {})\n' +
        '}\n',
    })
    const worker = startNode(workers.stopOnSigterm, { url, dir, instanceId: 'sigtermed-js', shutdownTimeout: 1000 })
    const sql = client(url)
    await worker.printed('INSERTED')
    worker.child.kill('SIGTERM')
    const run = await worker.exited()
    expect(run.signal, run.stdout).toBeNull()
    expect(run.error, run.stdout).toMatchObject({ code: 'ABORTED' })
    expect(await history(sql)).toEqual([{ id: '0001', state: 'applied' }])
    expect(await column(sql, 't')).toEqual([])
    await noMigrationLeftovers(sql)
  })
})
