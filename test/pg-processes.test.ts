import { describe, expect, it } from 'vitest'
import { client, freshDatabase, revisions, runWorker, startWorker } from './helpers.js'

describe('several processes migrating one PostgreSQL database', () => {
  it('ten processes starting at once all succeed and each revision is applied once', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_log.sql': "-- migrate:up\ncreate table runs (id text);\ncreate table t (x int);\ninsert into runs values ('0001');\n",
      // A concurrent index build waits for every older snapshot: waiters that blocked inside a query would deadlock it.
      '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently t_x on t (x);\n',
      '0003_slow.sql': "-- migrate:up\ninsert into runs values ('0003');\nselect pg_sleep(0.5);\n",
    })
    const results = await Promise.all(Array.from({ length: 10 }, () => runWorker({ url, dir })))
    for (const r of results) expect(r.error, r.stdout).toBeUndefined()
    expect(results.every((r) => r.code === 0 && r.result?.current === '0003')).toBe(true)
    expect(results.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0001', '0002', '0003'])
    const sql = client(url)
    expect(await sql`select id, count(*)::int as n from runs group by id order by id`).toEqual([
      { id: '0001', n: 1 },
      { id: '0003', n: 1 },
    ])
    expect(await sql`select count(*)::int as n from boot_migrate_history where state = 'applied'`).toEqual([{ n: 3 }])
  })

  it('a process killed in the middle of a slow revision leaves nothing half-applied and does not block the next one', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_slow.sql':
        '-- migrate:up\ncreate table a (x int);\ninsert into a select generate_series(1, 100);\nselect pg_sleep(3);\ncreate table b (x int);\n',
    })
    const first = startWorker({ url, dir, instanceId: 'first' })
    await first.printed('applying 0001_slow')
    await new Promise((r) => setTimeout(r, 500))
    first.child.kill('SIGKILL')
    await first.done

    const next = await runWorker({ url, dir, lockTimeout: 60_000 })
    expect(next.error, next.stdout).toBeUndefined()
    expect(next.result!.current).toBe('0001')
    const sql = client(url)
    expect(await sql`select count(*)::int as n from a`).toEqual([{ n: 100 }])
    expect(await sql`select to_regclass('b') is not null as b`).toEqual([{ b: true }])
    expect(await sql`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'applied' }])
  })
})
