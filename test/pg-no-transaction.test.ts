import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { client, freshDatabase, revisions, runWorker, startWorker } from './helpers.js'

const setup = '-- migrate:up\ncreate table t (x int);\ninsert into t select g % 10 from generate_series(1, 1000) g;\n'

describe('no-transaction revisions on PostgreSQL', () => {
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

  it('removes the running row when the first statement fails before executing (syntax error): nothing is dirty', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_t.sql': setup, '0002_bad.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurently t_x on t (x);\n' })
    await expect(createMigrator({ url, dir, logger: false }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED', message: expect.stringContaining('Nothing of it was applied') })
    expect(await client(url)`select id from boot_migrate_history`).toEqual([{ id: '0001' }])
  })

  it('reports a revision interrupted by SIGKILL as dirty and never runs it again by itself', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_slow.sql': '-- migrate:up\n-- migrate:no-transaction\nselect pg_sleep(30);\ninsert into t values (42);\n',
    })
    const worker = startWorker({ url, dir })
    await worker.printed('applying 0002_slow')
    await new Promise((r) => setTimeout(r, 300))
    worker.child.kill('SIGKILL')
    await worker.done

    const next = await runWorker({ url, dir, lockTimeout: 60_000 })
    expect(next.error).toMatchObject({ code: 'DIRTY' })
    expect(next.error!.message).toContain('0002_slow')
    const sql = client(url)
    expect(await sql`select count(*)::int as n from t where x = 42`).toEqual([{ n: 0 }])
    expect(await sql`select state from boot_migrate_history where id = '0002'`).toEqual([{ state: 'running' }])
  })
})

describe('resolving a dirty revision', () => {
  it('the CLI marks a dirty revision rolled back, after which the next boot runs it again', async () => {
    const { spawnSync } = await import('node:child_process')
    const { join } = await import('node:path')
    const { root } = await import('./helpers.js')
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_uniq.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate unique index concurrently t_x_unique on t (x);\n',
    })
    await expect(createMigrator({ url, dir, logger: false }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    const sql = client(url)
    // What a human does after reading the DIRTY message: clean up, fix the data, resolve.
    await sql`drop index concurrently t_x_unique`
    await sql`delete from t where ctid not in (select min(ctid) from t group by x)`
    const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args, '--url', url, '--dir', dir], { encoding: 'utf8' })
    const resolved = cli('resolve', '0002', '--rolled-back')
    expect(resolved.status, resolved.stdout + resolved.stderr).toBe(0)
    await expect(createMigrator({ url, dir, logger: false }).run()).resolves.toMatchObject({ applied: [{ id: '0002' }] })
    expect(cli('resolve', '0002', '--applied').status).toBe(1)
  })

  it('marking a dirty revision applied lets the boot go on without running it', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': setup,
      '0002_uniq.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate unique index concurrently t_x_unique on t (x);\n',
      '0003_after.sql': '-- migrate:up\ncreate table after_it (x int);\n',
    })
    await expect(createMigrator({ url, dir, logger: false }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    await createMigrator({ url, dir, logger: false }).resolve('0002', 'applied')
    await expect(createMigrator({ url, dir, logger: false }).run()).resolves.toMatchObject({ applied: [{ id: '0003' }] })
    await expect(createMigrator({ url, dir, logger: false }).resolve('0002', 'applied')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })
})
