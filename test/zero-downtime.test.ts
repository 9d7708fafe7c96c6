// The README's "Zero-downtime deploys" walkthrough, run as written: the files of examples/zero-downtime/migrations
// pass the lint, the boot applies the expand revisions and the backfill while old code keeps writing `name`, and
// `up --contract` drops the old column after the rollout.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cli, client, freshDatabase, root } from './helpers.js'

const folder = join(root, 'examples/zero-downtime/migrations')
const temps: string[] = []
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))))

const columns = async (sql: ReturnType<typeof client>) =>
  (await sql`select column_name from information_schema.columns where table_schema = 'public' and table_name = 'users' order by ordinal_position`).map(
    (r) => r.column_name as string,
  )

describe('zero-downtime walkthrough (README, examples/zero-downtime)', () => {
  it('every file of the example is shown in the README as it is', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    for (const file of (await readdir(folder)).filter((f) => f !== '0001_users.sql')) {
      const text = (await readFile(join(folder, file), 'utf8')).trim()
      expect(readme, file).toContain(text)
    }
  })

  it('the example passes the unsafe-DDL lint, and the drop fails it once it is not a contract revision', async () => {
    const ok = cli(['check', '--dir', folder])
    expect(ok.err + ok.out).not.toMatch(/drop-column|require-|rename-/)
    expect(ok.code).toBe(0)

    const dir = await mkdtemp(join(tmpdir(), 'bm-zdd-'))
    temps.push(dir)
    await cp(folder, dir, { recursive: true })
    const drop = join(dir, '0004_drop_name.sql')
    await writeFile(drop, (await readFile(drop, 'utf8')).replace('-- migrate:phase contract\n', ''))
    const bad = cli(['check', '--dir', dir])
    expect(bad.code).toBe(1)
    expect(bad.out).toMatch(/0004_drop_name\.sql:\d+ drop-column/)
  })

  it('expand at boot (the backfill while old code writes name), then up --contract drops the old column', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    try {
      // Before the deploy: the table, with rows written by the old code.
      expect(cli(['up', '--url', url, '--dir', folder, '--to', '0001']).code).toBe(0)
      await sql`insert into users (name) select 'user ' || g from generate_series(1, 25000) g`

      // The deploy: each new pod's migrate() applies 0002 and the backfill, and defers the contract revision.
      const { createMigrator } = (await import(join(root, 'dist/index.js'))) as typeof import('../src/index.js')
      const migrator = createMigrator({ url, dir: folder, logger: false })
      const progress: number[] = []
      migrator.on('batch:progress', (p) => progress.push(p.rows))
      const result = await migrator.run()
      expect(result.applied.map((a) => a.id)).toEqual(['0002', '0003'])
      expect(result.deferred).toEqual(['0004'])
      expect(migrator.health()).toMatchObject({ ready: true, deferred: ['0004'], pending: [] })
      expect(progress).toEqual([10000, 20000, 25000])
      expect((await sql`select count(*)::int as n from users where full_name is distinct from name`)[0]!.n).toBe(0)

      // An old pod still writes name only: the trigger keeps full_name in step.
      await sql`insert into users (name) values ('old pod')`
      await sql`update users set name = 'renamed by an old pod' where id = 1`
      expect(await sql`select full_name from users where name in ('old pod', 'renamed by an old pod') order by id`).toEqual([
        { full_name: 'renamed by an old pod' },
        { full_name: 'old pod' },
      ])
      expect(await columns(sql)).toEqual(['id', 'name', 'full_name'])

      // After the rollout: the pipeline applies the contract revision.
      const contract = cli(['up', '--contract', '--url', url, '--dir', folder])
      expect(contract.code).toBe(0)
      expect(await columns(sql)).toEqual(['id', 'full_name'])
      expect((await sql`select id from boot_migrate_history order by id`).map((r) => r.id)).toEqual(['0001', '0002', '0003', '0004'])
      expect((await sql`select count(*)::int as n from users where full_name is null`)[0]!.n).toBe(0)
    } finally {
      await sql.end()
    }
  })
})
