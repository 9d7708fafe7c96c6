import { describe, expect, it, vi } from 'vitest'
import { createMigrator } from '../src/index.js'
import { eventually } from './contract/support.js'
import { client, freshDatabase, revisions, runWorker, startWorker } from './helpers.js'

const setup = '-- migrate:up\ncreate table t (x int);\ninsert into t select g % 10 from generate_series(1, 1000) g;\n'

describe('no-transaction revisions on PostgreSQL', () => {
  it('rejects CREATE INDEX CONCURRENTLY in a transactional revision before anything runs, saying which directive to add', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_idx.sql': '-- migrate:up\n\ncreate index concurrently t_x on t (x);\n',
    })
    const error = await createMigrator({ url, dir, logger: false }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 3 })
    expect((error as Error).message).toContain('CREATE INDEX CONCURRENTLY cannot run inside a transaction')
    expect((error as Error).message).toContain('-- migrate:no-transaction')
    expect(await client(url)`select to_regclass('t') as t, to_regclass('boot_migrate_history') as h`).toEqual([{ t: null, h: null }])
  })

  it('builds an index concurrently and records the revision as applied', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently t_x on t (x);\n',
    })
    await createMigrator({ url, dir, logger: false }).run()
    const sql = client(url)
    expect(await sql`select indisvalid from pg_index where indexrelid = 't_x'::regclass`).toEqual([{ indisvalid: true }])
    expect(await sql`select id, state from boot_migrate_history order by id`).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('lets a concurrent index build wait for an old transaction however long it takes: no lock_timeout, no retry, no dirty state', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently t_x_wait on t (x);\n',
    })
    await createMigrator({ url, dir, to: '0001', logger: false }).run()
    const sql = client(url)
    const old = await sql.reserve()
    await old`begin isolation level repeatable read`
    await old`select count(*) from t` // an old snapshot: the build must wait for it to end
    // With ddlLockTimeout applied to the build, the wait below would end it with DDL_LOCK_TIMEOUT (no retries allowed).
    const run = createMigrator({ url, dir, ddlLockTimeout: 100, ddlRetries: 0, logger: false }).run()
    run.catch(() => undefined)
    const waiting = () => sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and query ilike 'create index concurrently%' and wait_event_type = 'Lock'`
    await vi.waitFor(async () => expect(await waiting()).toEqual([{ n: 1 }]), eventually)
    // Still waiting well past ddlLockTimeout, then the old transaction ends.
    await new Promise((r) => setTimeout(r, 1000))
    expect(await waiting()).toEqual([{ n: 1 }])
    await old`commit`
    old.release()
    await expect(run).resolves.toMatchObject({ applied: [{ id: '0002' }] })
    expect(await sql`select indisvalid from pg_index where indexrelid = 't_x_wait'::regclass`).toEqual([{ indisvalid: true }])
    expect(await sql`select state from boot_migrate_history where id = '0002'`).toEqual([{ state: 'applied' }])
  })

  it('leaves a failed concurrent build dirty and reports the invalid index with the statement that drops it', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_uniq.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate unique index concurrently t_x_unique on t (x);\n',
    })
    const failed = await createMigrator({ url, dir, logger: false }).run().catch((e: unknown) => e)
    expect(failed).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 3 })
    expect((failed as Error).message).toContain('marked dirty')

    const dirty = await createMigrator({ url, dir, logger: false }).run().catch((e: unknown) => e)
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect((dirty as Error).message).toContain('boot-migrate resolve 0002 --applied')
    expect((dirty as Error).message).toContain('DROP INDEX CONCURRENTLY public.t_x_unique;')
  })

  it('reports a revision interrupted by SIGKILL as dirty and never runs it again by itself', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_slow.sql': '-- migrate:up\n-- migrate:no-transaction\nselect pg_sleep(30);\ninsert into t values (42);\n',
    })
    const worker = startWorker({ url, dir })
    const sql = client(url)
    // Killed inside its sleep: after its running row, before the insert.
    const sleeping = async () =>
      (await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and state = 'active' and query like 'select pg_sleep(30)%'`)[0]!.n
    await expect.poll(sleeping, eventually).toBe(1)
    worker.child.kill('SIGKILL')
    await worker.done

    const next = await runWorker({ url, dir, lockTimeout: 60_000 })
    expect(next.error).toMatchObject({ code: 'DIRTY' })
    expect(next.error!.message).toContain('0002_slow')
    expect(await sql`select count(*)::int as n from t where x = 42`).toEqual([{ n: 0 }])
    expect(await sql`select state from boot_migrate_history where id = '0002'`).toEqual([{ state: 'running' }])
  })
})
