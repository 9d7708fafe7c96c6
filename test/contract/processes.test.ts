import { describe, expect, it } from 'vitest'
import { revisions, runWorker, startWorker } from '../helpers.js'
import { targets } from './targets.js'

// Needs a second process (workers, the CLI, kill -9): not on a target only this process reaches (PGlite).
describe.each(targets.filter((t) => t.processes))('several processes migrating one database ($label)', (target) => {
  it('ten processes starting at once all succeed and each revision is applied once', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_runs.sql': "-- migrate:up\ncreate table runs (id text);\ncreate table t (x int);\ninsert into runs values ('0001');\n",
      // Built outside a transaction. On PostgreSQL a concurrent build waits for every older snapshot: waiters that blocked inside a query would deadlock it.
      '0002_idx.sql': `-- migrate:up\n-- migrate:no-transaction\n${target.sql.buildIndex('t_x', 't', 'x')};\n`,
      // Long enough for the other processes to arrive while the lock is held.
      '0003_slow.mjs': "export async function up({ query }) {\n  await new Promise((r) => setTimeout(r, 300))\n  await query(\"insert into runs values ('0003')\")\n}\n",
      '0004_last.sql': "-- migrate:up\ninsert into runs values ('0004');\n",
    })
    const runs = await Promise.all(Array.from({ length: 10 }, () => runWorker({ url: db.url, dir })))
    for (const r of runs) {
      expect(r.error, r.stdout).toBeUndefined()
      expect(r.code, r.stdout).toBe(0)
      expect(r.result?.current).toBe('0004')
    }
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0001', '0002', '0003', '0004'])
    expect(await db.query('select id from runs order by id')).toEqual([{ id: '0001' }, { id: '0003' }, { id: '0004' }])
    expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual(
      ['0001', '0002', '0003', '0004'].map((id) => ({ id, state: 'applied' })),
    )
    expect(await db.indexes()).toEqual(['t_x'])
  })

  it('a process killed in the middle of a revision leaves nothing of it applied, and the next process applies it', async () => {
    const db = await target.fresh()
    const dir = await revisions({
      '0001_knob.sql': '-- migrate:up\ncreate table knob (hold int not null);\ninsert into knob values (1);\n',
      // Writes, says so, then holds its transaction open for as long as the knob says.
      '0002_half.mjs':
        'export async function up({ exec, query, log }) {\n' +
        "  await exec('create table a (x int); insert into a values (1); insert into a values (2); insert into a values (3);')\n" +
        "  log('half written')\n" +
        "  while ((await query('select hold from knob'))[0].hold) await new Promise((r) => setTimeout(r, 50))\n" +
        "  await exec('create table b (x int)')\n" +
        '}\n',
      '0003_after.sql': '-- migrate:up\ncreate table after_it (x int);\n',
    })
    const first = startWorker({ url: db.url, dir, instanceId: 'first' })
    await first.printed('0002_half: half written')
    first.child.kill('SIGKILL')
    expect((await first.done).signal).toBe('SIGKILL')

    if (!target.transactionalDdl) {
      // Where DDL commits implicitly, the function revision ran outside a transaction: what it did stays, its row says
      // running, and the next process refuses it as dirty instead of running it twice.
      expect(await db.tables()).toEqual(['a', 'boot_migrate_history', 'knob'])
      expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual([
        { id: '0001', state: 'applied' },
        { id: '0002', state: 'running' },
      ])
      await db.exec('update knob set hold = 0')
      const next = await runWorker({ url: db.url, dir, lockTimeout: 60_000 })
      expect(next.error).toMatchObject({ code: 'DIRTY' })
      expect(next.error!.message).toContain('boot-migrate resolve 0002')
      return
    }
    expect(await db.tables()).toEqual(['boot_migrate_history', 'knob'])
    expect(await db.query('select id, state from boot_migrate_history')).toEqual([{ id: '0001', state: 'applied' }])

    await db.exec('update knob set hold = 0')
    // lockStale: a SQLite lock folder left by the killed process is taken over after it; PostgreSQL frees the lock with the session.
    const next = await runWorker({ url: db.url, dir, lockTimeout: 60_000, lockStale: 2000 })
    expect(next.error, next.stdout).toBeUndefined()
    expect(next.result).toMatchObject({ current: '0003', applied: [{ id: '0002' }, { id: '0003' }] })
    expect(await db.query('select count(*) as n from a')).toEqual([{ n: 3 }])
    expect(await db.tables()).toEqual(['a', 'after_it', 'b', 'boot_migrate_history', 'knob'])
    expect(await db.query('select id, state from boot_migrate_history order by id')).toEqual(
      ['0001', '0002', '0003'].map((id) => ({ id, state: 'applied' })),
    )
  })
})
