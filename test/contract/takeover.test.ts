// Taking over drizzle's history (issue 12): atomic, repeatable, tolerant, and never running a migration twice.
// The folders are made by the real drizzle-kit and the histories by drizzle-orm's own migrate().
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { drizzleFolder, drizzleMigrate, truncatedCopy } from '../drizzle-fixtures.js'
import { captureLog, runWorker } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type TestDatabase } from './targets.js'

interface Journal {
  entries: Array<{ tag: string; when: number }>
}

describe.each(targets.filter((t) => t.takeover.includes('drizzle')))("taking over drizzle's history ($label)", (target) => {
  const kit = target.name === 'postgres' ? 'postgresql' : target.name
  const drizzleTable = target.name === 'postgres' ? 'drizzle.__drizzle_migrations' : '__drizzle_migrations'
  // drizzle's SQLite table declares `id SERIAL PRIMARY KEY`, which is no rowid alias: its ids are null. Rows are ordered by created_at.
  // A seed written by hand in a drizzle-kit --custom migration. On PostgreSQL wrapped in BEGIN/COMMIT as real projects
  // do (drizzle runs it); drizzle's SQLite migrator cannot run a BEGIN inside its own transaction, so there it is bare.
  const wrapped = target.name === 'postgres'
  const seedSql = (wrap: boolean) =>
    [...(wrap ? ['BEGIN;'] : []), "insert into users (name) values ('seed a');", "insert into users (name) values ('seed b');", ...(wrap ? ['COMMIT;'] : [])].join(
      '\n--> statement-breakpoint\n',
    ) + '\n'
  /** Three drizzle-kit generations (0000-0002) and the seed (0003). */
  const folder = (wrap = wrapped) => drizzleFolder(kit, 3, { custom: { name: 'seed', sql: seedSql(wrap) } })
  const drizzleRun = async (db: TestDatabase, dir: string) => {
    const r = await (db.drizzleMigrate?.(dir) ?? drizzleMigrate(kit, db.url.replace(/^sqlite:/, ''), dir))
    expect(r.ok, r.out).toBe(true)
  }
  /** Everything a takeover could touch: every table, drizzle's rows, ours (when there), the seeded rows. */
  const state = async (db: TestDatabase) => {
    const tables = await db.tables()
    return {
      tables,
      drizzle: await db.query(`select * from ${drizzleTable} order by created_at, hash`),
      ours: tables.includes('boot_migrate_history') ? await db.query('select id, name, checksum, state from boot_migrate_history order by id') : null,
      users: await db.query('select name from users order by name'),
    }
  }
  const seeded = [{ name: 'seed a' }, { name: 'seed b' }]
  const all = ['0000', '0001', '0002', '0003']
  const readJournal = async (dir: string) => JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8')) as Journal

  it.each(['restore the file', 'stamp', 'edit the history'] as const)(
    'a refused takeover leaves the database as it was, boot after boot; then, after "%s", nothing runs twice',
    async (fix) => {
      const db = await target.fresh()
      const dir = await folder()
      await drizzleRun(db, dir)
      const before = await state(db)
      expect(before.users).toEqual(seeded)
      expect(before.tables).not.toContain('boot_migrate_history')

      // A rebase re-stamped the seed's journal entry: drizzle's row no longer matches it.
      const journal = await readJournal(dir)
      const original = JSON.stringify(journal, null, 2)
      const seed = journal.entries[3]!
      const oldWhen = seed.when
      seed.when += 1000
      await writeFile(join(dir, 'meta', '_journal.json'), JSON.stringify(journal, null, 2))

      for (let boot = 0; boot < 2; boot++) {
        const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
        expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining('0003_seed') })
        expect(error.message).toContain('boot-migrate stamp')
        expect(await state(db)).toEqual(before)
      }

      let drizzleAfter = before.drizzle
      if (fix === 'restore the file') await writeFile(join(dir, 'meta', '_journal.json'), original)
      else if (fix === 'stamp') expect(await createMigrator({ ...db.connection, dir, ...quiet }).stamp('0003')).toEqual(all)
      else {
        await db.query(`update ${drizzleTable} set created_at = ${target.sql.param(1)} where created_at = ${target.sql.param(2)}`, [seed.when, oldWhen])
        drizzleAfter = await db.query(`select * from ${drizzleTable} order by created_at, hash`)
        expect(drizzleAfter).not.toEqual(before.drizzle)
      }
      for (let boot = 0; boot < 2; boot++) {
        const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
        expect(result).toMatchObject({ applied: [], current: '0003', warnings: [] })
        const now = await state(db)
        expect(now.users).toEqual(seeded)
        expect(now.drizzle).toEqual(drizzleAfter)
        expect(now.ours?.map((r) => [r.id, r.state])).toEqual(all.map((id) => [id, 'applied']))
        expect(now.tables).toEqual([...before.tables, 'boot_migrate_history'].sort())
      }
    },
  )

  it('status before the first run shows what it will take over (or why it will refuse), and writes nothing', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await drizzleRun(db, await truncatedCopy(dir, 2))
    const before = await state(db)
    const s = await createMigrator({ ...db.connection, dir, ...quiet }).status()
    expect(s).toMatchObject({ current: '0001', pending: ['0002', '0003'], takeover: { tool: 'drizzle', adopted: ['0000', '0001'], edited: [] } })
    expect(s.revisions.map((r) => [r.id, r.state])).toEqual([['0000', 'applied'], ['0001', 'applied'], ['0002', 'pending'], ['0003', 'pending']])
    expect(await state(db)).toEqual(before)

    // A history the folder does not match: status says the first run will refuse, and shows nothing as applied.
    await db.query(`update ${drizzleTable} set created_at = created_at + 1`)
    const refused = await createMigrator({ ...db.connection, dir, ...quiet }).status()
    expect(refused.takeover).toMatchObject({ tool: 'drizzle', adopted: [], refused: expect.stringContaining('Cannot take over') })
    expect(refused.pending).toEqual(all)
  })

  it('from scratch: a seed wrapped in BEGIN/COMMIT runs once, in our transaction, with a notice', async () => {
    const db = await target.fresh()
    const dir = await folder(true)
    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result.applied.map((r) => r.id)).toEqual(all)
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect(log.text()).toMatch(/info .*0003_seed\.sql: its BEGIN and COMMIT were dropped/)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true })
  })

  it('takeover halfway: only what drizzle had not applied runs, the seed once', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await drizzleRun(db, await truncatedCopy(dir, 2))
    // Replicas racing in drizzle's migrate() can record one migration twice: it is still one migration.
    await db.query(`insert into ${drizzleTable} (hash, created_at) select hash, created_at from ${drizzleTable} where created_at = (select min(created_at) from ${drizzleTable})`)
    const drizzleRows = await db.query(`select * from ${drizzleTable} order by created_at, hash`)
    expect(drizzleRows).toHaveLength(3)
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002', '0003'])
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect(await db.query(`select * from ${drizzleTable} order by created_at, hash`)).toEqual(drizzleRows)
    expect((await db.query('select id from boot_migrate_history order by id')).map((r) => r.id)).toEqual(all)
  })

  it('a file edited after drizzle applied it is adopted with a warning (result and log); takeover.strict refuses it', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await drizzleRun(db, dir)
    const before = await state(db)
    const tag = (await readJournal(dir)).entries[1]!.tag
    await appendFile(join(dir, `${tag}.sql`), '\n-- a later edit\n')

    const strict = await failure(createMigrator({ ...db.connection, dir, takeover: { strict: true }, ...quiet }).run())
    expect(strict).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(tag) })
    expect(await state(db)).toEqual(before)

    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result).toMatchObject({ applied: [], current: '0003', warnings: [expect.stringContaining(`${tag}.sql`)] })
    expect(log.text()).toMatch(new RegExp(`warn .*${tag}.* was changed after drizzle applied it`))
    const row = (await db.query<{ applied_by: string }>("select applied_by from boot_migrate_history where id = '0001'"))[0]!
    // Both hashes are kept: drizzle's (the file as applied) and today's.
    const stored = (before.drizzle[1] as { hash: string }).hash
    expect(row.applied_by).toContain(stored)
    expect(await state(db)).toMatchObject({ drizzle: before.drizzle, users: seeded })
    // Adopted for good: the edit never trips a later boot.
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, warnings: [] })
  })

  it.skipIf(!target.processes)('several processes taking over at once: each migration runs once, both histories end up complete', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await drizzleRun(db, await truncatedCopy(dir, 2))
    const runs = await Promise.all(
      Array.from({ length: 6 }, () => runWorker({ url: db.url, dir, takeover: { keepHistory: true }, lockTimeout: 60_000 })),
    )
    for (const r of runs) expect(r.error, r.stdout).toBeUndefined()
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0002', '0003'])
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect((await db.query('select id from boot_migrate_history order by id')).map((r) => r.id)).toEqual(all)
    const journal = await readJournal(dir)
    expect((await db.query<{ created_at: number }>(`select created_at from ${drizzleTable} order by created_at, hash`)).map((r) => Number(r.created_at))).toEqual(
      journal.entries.map((e) => e.when),
    )
    // Switching back: drizzle's own migrate() finds nothing to do (it would fail on "already exists").
    await drizzleRun(db, dir)
    expect(await db.query('select name from users order by name')).toEqual(seeded)
  })
})
