// Taking over Prisma Migrate (issue 12): its folder read as Prisma reads it, `_prisma_migrations` adopted as
// `prisma migrate deploy` reads it, kept in step for a switch back. Fixtures: test/prisma-fixtures.ts (the real
// prisma CLI cannot run here: its schema engine is downloaded from Prisma's server at install time).
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { loadRevisions } from '../../src/revisions/load.js'
import {
  PRISMA_IDS,
  prismaDeploy,
  prismaFolder,
  prismaPending,
  prismaResolveApplied,
  prismaResolveRolledBack,
  prismaTableDdl,
  prismaTruncated,
  sha256File,
} from '../prisma-fixtures.js'
import { captureLog, runWorker } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type TestDatabase } from './targets.js'

const HISTORY = ['boot_migrate_history', 'boot_migrate_history_progress', '_prisma_migrations']
const [INIT, POSTS, SEED, ROLES] = PRISMA_IDS as [string, string, string, string]
const settings = [
  { key: 'plan', value: 'free' },
  { key: 'theme', value: 'dark' },
]

describe('Prisma folders are read as Prisma reads them', () => {
  const lite = { dollarQuotes: false, brackets: true, nestedComments: false }
  it("folder names are the ids, the whole file is the up step, a down.sql beside it is the down step; a folder without migration.sql is refused", async () => {
    const dir = await prismaFolder('sqlite')
    await writeFile(join(dir, INIT, 'down.sql'), 'DROP TABLE "Setting";\nDROP TABLE "User";\n')
    const revs = await loadRevisions({ dir }, lite)
    expect(revs.map((r) => [r.id, r.name, r.origin?.key])).toEqual(PRISMA_IDS.map((id) => [id, id.slice(15), id]))
    expect(revs[0]!.origin!.hash).toBe(await sha256File(join(dir, INIT, 'migration.sql')))
    expect(revs[0]!.down?.kind === 'sql' && revs[0]!.down.statements.map((s) => s.text)).toEqual(['DROP TABLE "Setting"', 'DROP TABLE "User"'])
    expect(revs[1]!.down).toBeNull()
    await mkdir(join(dir, '20240501000000_empty'))
    await expect(loadRevisions({ dir }, lite)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('holds a migration.sql, this one does not') })
  })
})

describe.each(targets.filter((t) => t.takeover.includes('prisma')))('taking over Prisma Migrate ($label)', (target) => {
  const q = target.quote
  /** Everything a takeover could touch, every row of it. */
  const state = async (db: TestDatabase) => {
    const tables = await db.tables()
    return {
      tables,
      schema: await db.schema(['boot_migrate_history', 'boot_migrate_history_progress']),
      prisma: tables.includes('_prisma_migrations') ? await db.query('select * from _prisma_migrations order by started_at, migration_name, id') : null,
      ours: tables.includes('boot_migrate_history') ? await db.query('select id, name, checksum, state from boot_migrate_history order by id') : null,
      settings: await db.query(`select * from ${q('Setting')} order by ${q('key')}`),
    }
  }
  /** The same migrations applied by hand, one file after the other (psql -v ON_ERROR_STOP=1 on PostgreSQL). */
  const byHand = async (dir: string) => {
    const db = await target.fresh()
    for (const id of PRISMA_IDS) await db.applyFile(join(dir, id, 'migration.sql'))
    return db.schema(HISTORY)
  }
  const ids = async (db: TestDatabase) => (await db.query<{ id: string }>('select id from boot_migrate_history order by id')).map((r) => r.id)

  it('from scratch: every migration runs once, the schema is that of the files applied in order; BEGIN/COMMIT blocks are dropped with a notice', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result.applied.map((r) => r.id)).toEqual(PRISMA_IDS)
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
    expect(await db.query(`select * from ${q('Setting')} order by ${q('key')}`)).toEqual(settings)
    if (target.name === 'postgres') expect(log.text()).toMatch(/info .*20240401000000_roles.migration\.sql: its BEGIN and COMMIT lines were dropped/)
    expect(await db.tables()).not.toContain('_prisma_migrations')
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, warnings: [] })
  })

  it('takeover at the end: nothing runs, the history is adopted with the folder names as ids', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    await prismaDeploy(target, db, dir)
    const before = await state(db)
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], current: ROLES, warnings: [] })
    const after = await state(db)
    expect({ ...after, tables: after.tables.filter((t) => !t.startsWith('boot_migrate_history')), ours: null }).toEqual(before)
    expect(await ids(db)).toEqual(PRISMA_IDS)
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
  })

  it('takeover halfway: only what Prisma had not applied runs (a rolled-back attempt counts as not applied)', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    await prismaDeploy(target, db, await prismaTruncated(dir, 2))
    // An attempt at the seed that failed and was resolved --rolled-back: history only, as for Prisma.
    await prismaDeploy(target, db, await prismaTruncated(dir, 3), SEED)
    await prismaResolveRolledBack(target, db, SEED)
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual([SEED, ROLES])
    expect(await db.query(`select * from ${q('Setting')} order by ${q('key')}`)).toEqual(settings)
    expect(await ids(db)).toEqual(PRISMA_IDS)
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
  })

  it.each(['resolve --rolled-back', 'resolve --applied'] as const)(
    "a failed Prisma migration is refused with Prisma's own command, boot after boot, leaving the database as it was; after `prisma migrate %s` nothing runs twice",
    async (fix) => {
      const db = await target.fresh()
      const dir = await prismaFolder(target.name)
      await prismaDeploy(target, db, dir, SEED)
      const before = await state(db)
      for (let boot = 0; boot < 2; boot++) {
        const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
        expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(`${SEED} failed when Prisma applied it`) })
        expect(error.message).toContain(`npx prisma migrate resolve --applied ${SEED}`)
        expect(error.message).toContain(`npx prisma migrate resolve --rolled-back ${SEED}`)
        expect(error.message).toContain('duplicate key value')
        expect(await state(db)).toEqual(before)
      }
      if (fix === 'resolve --applied') {
        await db.applyFile(join(dir, SEED, 'migration.sql'))
        await prismaResolveApplied(target, db, dir, SEED)
      } else await prismaResolveRolledBack(target, db, SEED)
      const first = await createMigrator({ ...db.connection, dir, ...quiet }).run()
      expect(first.applied.map((r) => r.id)).toEqual(fix === 'resolve --applied' ? [ROLES] : [SEED, ROLES])
      expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true })
      expect(await db.query(`select * from ${q('Setting')} order by ${q('key')}`)).toEqual(settings)
      expect(await ids(db)).toEqual(PRISMA_IDS)
    },
  )

  it('a finished Prisma migration missing from the folder is refused (nothing recorded); restoring the folder adopts it', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    await prismaDeploy(target, db, dir)
    const before = await state(db)
    const old = await prismaTruncated(dir, 3)
    const error = await failure(createMigrator({ ...db.connection, dir: old, ...quiet }).run())
    expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(`Prisma applied ${ROLES}, which this folder does not have`) })
    expect(await state(db)).toEqual(before)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [], current: ROLES })
  })

  it('a file edited after Prisma applied it is adopted with a warning; takeover.strict refuses it; line endings alone are no edit', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    await prismaDeploy(target, db, dir)
    const before = await state(db)
    // git with autocrlf: Prisma accepts the file with its line endings changed, so do we.
    const init = join(dir, INIT, 'migration.sql')
    await writeFile(init, (await readFile(init, 'utf8')).replace(/\n/g, '\r\n'))
    await appendFile(join(dir, POSTS, 'migration.sql'), '\n-- a later edit\n')

    const strict = await failure(createMigrator({ ...db.connection, dir, takeover: { strict: true }, ...quiet }).run())
    expect(strict).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(POSTS) })
    expect(strict.message).not.toContain(INIT)
    expect(await state(db)).toEqual(before)

    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result).toMatchObject({ applied: [], current: ROLES, warnings: [expect.stringContaining(`${POSTS}/migration.sql`)] })
    expect(result.warnings).toHaveLength(1)
    expect(log.text()).toMatch(new RegExp(`warn .*${POSTS}.* was changed after prisma applied it`))
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, warnings: [] })
  })

  it("keepHistory from scratch writes _prisma_migrations as Prisma does: Prisma's DDL, its checksums, nothing pending for `prisma migrate deploy`; down marks the row rolled back", async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    const before = Date.now()
    await createMigrator({ ...db.connection, dir, takeover: { keepHistory: true }, ...quiet }).run()
    const after = Date.now()
    const rows = await db.query<Record<string, unknown>>('select * from _prisma_migrations order by migration_name')
    expect(rows.map((r) => r.migration_name)).toEqual(PRISMA_IDS)
    for (const [i, r] of rows.entries()) {
      expect(r).toMatchObject({ checksum: await sha256File(join(dir, PRISMA_IDS[i]!, 'migration.sql')), logs: null, rolled_back_at: null, applied_steps_count: 1 })
      expect(r.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(r.finished_at).not.toBeNull()
      // Prisma's SQLite timestamps are integer milliseconds, written during the run.
      if (target.name === 'sqlite') expect(Number(r.finished_at)).toSatisfy((t: number) => Number.isInteger(t) && t >= before - 1 && t <= after + 1)
    }
    expect(await prismaPending(db, dir)).toEqual({ failed: [], pending: [] })
    // The table is the one Prisma creates.
    const other = await target.fresh()
    await other.query(prismaTableDdl(target.name))
    const definition = (d: TestDatabase) =>
      target.name === 'postgres'
        ? d.query(
            `select column_name, data_type, character_maximum_length, is_nullable, column_default, ordinal_position from information_schema.columns
              where table_name = '_prisma_migrations' order by ordinal_position`,
          )
        : target.name === 'mysql'
          ? d.query('show create table _prisma_migrations')
          : d.query("select sql from sqlite_schema where name = '_prisma_migrations' or tbl_name = '_prisma_migrations' order by name")
    expect(await definition(db)).toEqual(await definition(other))
    expect(await definition(db)).not.toEqual([])

    const down = join(dir, ROLES, 'down.sql')
    await writeFile(down, target.name === 'sqlite' ? 'select 1;' : `ALTER TABLE ${q('User')} ALTER COLUMN ${q('role')} SET DEFAULT 'ADMIN';`)
    await createMigrator({ ...db.connection, dir, takeover: { keepHistory: true }, ...quiet }).down()
    expect(await prismaPending(db, dir)).toEqual({ failed: [], pending: [ROLES] })
  })

  it.skipIf(!target.processes)('several processes taking over at once: each migration runs once, both histories end complete, Prisma sees nothing pending', async () => {
    const db = await target.fresh()
    const dir = await prismaFolder(target.name)
    await prismaDeploy(target, db, await prismaTruncated(dir, 2))
    const runs = await Promise.all(Array.from({ length: 6 }, () => runWorker({ url: db.url, dir, takeover: { keepHistory: true }, lockTimeout: 60_000 })))
    for (const r of runs) expect([r.code, r.signal, r.error, !!r.result], r.stdout).toEqual([0, null, undefined, true])
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual([SEED, ROLES])
    expect(await db.query(`select * from ${q('Setting')} order by ${q('key')}`)).toEqual(settings)
    expect(await ids(db)).toEqual(PRISMA_IDS)
    expect((await db.query<{ migration_name: string }>('select migration_name from _prisma_migrations order by migration_name')).map((r) => r.migration_name)).toEqual(PRISMA_IDS)
    expect(await prismaPending(db, dir)).toEqual({ failed: [], pending: [] })
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
  })
})
