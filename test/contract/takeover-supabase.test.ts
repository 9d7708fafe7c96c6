// Taking over the Supabase CLI (issue 12): `supabase/migrations/<timestamp>_<name>.sql` read as the CLI reads it,
// `supabase_migrations.schema_migrations` adopted, kept in step for a switch back. PostgreSQL only, as the CLI.
// Histories come from the real CLI where it is installed (test/supabase-fixtures.ts says where it looks).
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { loadRevisions } from '../../src/revisions/load.js'
import { captureLog, revisions, runWorker } from '../helpers.js'
import { SUPABASE_FILES, SUPABASE_IDS, supabaseBin, supabaseProject, supabaseRepair, supabaseTruncated, supabaseUp } from '../supabase-fixtures.js'
import { failure, quiet } from './support.js'
import { targets, type TestDatabase } from './targets.js'

const HISTORY = ['boot_migrate_history', 'supabase_migrations.*', 'supabase_migrations.schema_migrations']
const [INIT, SEED, RLS, INDEX] = SUPABASE_IDS as [string, string, string, string]
const settings = [
  { key: 'indexed', value: 'yes' },
  { key: 'plan', value: 'free' },
  { key: 'theme', value: 'dark' },
]
const PG = { dollarQuotes: true, brackets: false, nestedComments: true }

describe('Supabase folders are detected', () => {
  it('in supabase/migrations or beside a config.toml with project_id, unless the files carry dbmate or goose markers', async () => {
    const { project, dir } = await supabaseProject(2)
    expect((await loadRevisions({ dir }, PG)).map((r) => [r.id, r.name, r.origin?.tool])).toEqual([
      [INIT, 'init', 'supabase'],
      [SEED, 'seed', 'supabase'],
    ])
    // Elsewhere, a config.toml of the CLI's beside the folder tells.
    const other = join(project, 'supabase', 'db')
    await rename(dir, other)
    expect((await loadRevisions({ dir: other }, PG))[0]!.origin?.tool).toBe('supabase')
    // Not without it: a plain folder of timestamped files is not taken for the CLI's.
    const plain = await revisions({ '20240101000000_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    expect((await loadRevisions({ dir: plain }, PG))[0]!.origin?.tool).not.toBe('supabase')
    // Nor dbmate's files that happen to sit in supabase/migrations.
    for (const f of [`${INIT}_init.sql`, `${SEED}_seed.sql`]) await writeFile(join(other, f), `-- migrate:up\n${SUPABASE_FILES[f]}`)
    expect((await loadRevisions({ dir: other, format: undefined }, PG)).every((r) => r.origin?.tool !== 'supabase')).toBe(true)
  })
})

// The Supabase CLI (or its stand-in's workers) reaches the database by URL: not PGlite, which only this process reaches.
describe.each(targets.filter((t) => t.name === 'postgres' && t.processes))(`taking over the Supabase CLI ($label, ${supabaseBin ? 'real CLI' : 'stand-in'})`, (target) => {
  const state = async (db: TestDatabase) => {
    const tables = await db.tables()
    return {
      tables,
      schema: await db.schema(['boot_migrate_history']),
      supabase: await db.query('select * from supabase_migrations.schema_migrations order by version'),
      ours: tables.includes('boot_migrate_history') ? await db.query('select id, name, checksum, state from boot_migrate_history order by id') : null,
      settings: await db.query('select * from settings order by key'),
    }
  }
  const byHand = async (dir: string) => {
    const db = await target.fresh()
    for (const f of Object.keys(SUPABASE_FILES)) await db.applyFile(join(dir, f))
    return db.schema(HISTORY)
  }
  const ids = async (db: TestDatabase) => (await db.query<{ id: string }>('select id from boot_migrate_history order by id')).map((r) => r.id)
  const settingsOf = (db: TestDatabase) => db.query('select * from settings order by key')

  it('from scratch: every file runs once, the schema is that of the files applied in order; begin/commit is dropped with a notice', async () => {
    const db = await target.fresh()
    const { dir } = await supabaseProject()
    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result.applied.map((r) => r.id)).toEqual(SUPABASE_IDS)
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
    expect(await settingsOf(db)).toEqual(settings)
    expect(log.text()).toMatch(/info .*20240104000000_index\.sql: its BEGIN and COMMIT lines were dropped/)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ upToDate: true, warnings: [] })
  })

  it('takeover at the end: nothing runs, the history is adopted', async () => {
    const db = await target.fresh()
    const { project, dir } = await supabaseProject()
    await supabaseUp(project, db)
    const before = await state(db)
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [], current: INDEX, warnings: [] })
    const after = await state(db)
    expect({ ...after, tables: after.tables.filter((t) => t !== 'boot_migrate_history'), ours: null }).toEqual(before)
    expect(await ids(db)).toEqual(SUPABASE_IDS)
  })

  it('takeover halfway: only what the CLI had not applied runs', async () => {
    const db = await target.fresh()
    const { project, dir } = await supabaseProject()
    await supabaseUp((await supabaseTruncated(project, 2)).project, db)
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual([RLS, INDEX])
    expect(await settingsOf(db)).toEqual(settings)
    expect(await ids(db)).toEqual(SUPABASE_IDS)
    expect(await db.schema(HISTORY)).toEqual(await byHand(dir))
  })

  it.each(['rename it back', 'supabase migration repair'] as const)(
    'a history naming a file the folder lacks is refused, boot after boot, leaving the database as it was; after "%s" nothing runs twice',
    async (fix) => {
      const db = await target.fresh()
      const { project, dir } = await supabaseProject()
      await supabaseUp(project, db)
      const before = await state(db)
      // A rebase re-stamped the seed: the CLI's row names the old version.
      const moved = '20240102120000'
      await rename(join(dir, `${SEED}_seed.sql`), join(dir, `${moved}_seed.sql`))
      for (let boot = 0; boot < 2; boot++) {
        const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
        expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(`the Supabase CLI applied ${SEED}_seed, which this folder does not have`) })
        expect(error.message).toContain('supabase migration repair --status reverted')
        expect(await state(db)).toEqual(before)
      }
      let expected = SUPABASE_IDS
      if (fix === 'rename it back') await rename(join(dir, `${moved}_seed.sql`), join(dir, `${SEED}_seed.sql`))
      else {
        await supabaseRepair(project, db, 'reverted', SEED)
        await supabaseRepair(project, db, 'applied', moved)
        expected = [INIT, moved, RLS, INDEX]
      }
      for (let boot = 0; boot < 2; boot++) {
        expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [], current: INDEX, warnings: [] })
        expect(await settingsOf(db)).toEqual(settings)
        expect(await ids(db)).toEqual(expected)
        expect(await db.schema(['boot_migrate_history'])).toEqual(before.schema)
      }
    },
  )

  it('a file edited after the CLI applied it is adopted with a warning (its statements differ); takeover.strict refuses it', async () => {
    const db = await target.fresh()
    const { project, dir } = await supabaseProject()
    await supabaseUp(project, db)
    const before = await state(db)
    const seed = join(dir, `${SEED}_seed.sql`)
    await writeFile(seed, (await readFile(seed, 'utf8')).replace("'free'", "'pro'"))
    // A comment added at the top changes no statement: no warning for that file.
    const init = join(dir, `${INIT}_init.sql`)
    await writeFile(init, `-- reviewed\n${await readFile(init, 'utf8')}`)

    const strict = await failure(createMigrator({ ...db.connection, dir, takeover: { strict: true }, ...quiet }).run())
    expect(strict).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(`${SEED}_seed`) })
    expect(await state(db)).toEqual(before)

    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result).toMatchObject({ applied: [], current: INDEX, warnings: [expect.stringContaining(`${SEED}_seed.sql`)] })
    expect(result.warnings).toHaveLength(1)
    expect(log.text()).toMatch(/warn .*20240102000000_seed.* was changed after supabase applied it/)
    expect(await settingsOf(db)).toEqual(settings)
  })

  it('several processes taking over at once with keepHistory: each file runs once, both histories end complete, the CLI finds nothing to apply', async () => {
    const db = await target.fresh()
    const { project, dir } = await supabaseProject()
    await supabaseUp((await supabaseTruncated(project, 2)).project, db)
    const runs = await Promise.all(Array.from({ length: 6 }, () => runWorker({ url: db.url, dir, takeover: { keepHistory: true }, lockTimeout: 60_000 })))
    for (const r of runs) expect([r.code, r.signal, r.error, !!r.result], r.stdout).toEqual([0, null, undefined, true])
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual([RLS, INDEX])
    expect(await settingsOf(db)).toEqual(settings)
    expect(await ids(db)).toEqual(SUPABASE_IDS)
    const rows = await db.query<{ version: string; name: string; statements: string[] }>('select version, name, statements from supabase_migrations.schema_migrations order by version')
    expect(rows.map((r) => [r.version, r.name])).toEqual([
      [INIT, 'init'],
      [SEED, 'seed'],
      [RLS, 'rls'],
      [INDEX, 'index'],
    ])
    expect(rows[2]!.statements).toHaveLength(3)
    const out = await supabaseUp(project, db)
    expect(out).not.toContain('Applying migration')
    expect(out).toContain('Local database is up to date')
    expect(await settingsOf(db)).toEqual(settings)
  })

  it("keepHistory from scratch creates the CLI's table as the CLI does; the CLI then finds nothing to apply", async () => {
    const db = await target.fresh()
    const { project, dir } = await supabaseProject()
    await createMigrator({ ...db.connection, dir, takeover: { keepHistory: true }, ...quiet }).run()
    const other = await target.fresh()
    await supabaseUp((await supabaseTruncated(project, 1)).project, other)
    const table = (d: TestDatabase) =>
      d.query(
        "select column_name, data_type, is_nullable, column_default from information_schema.columns where table_schema = 'supabase_migrations' and table_name = 'schema_migrations' order by ordinal_position",
      )
    expect(await table(db)).toEqual(await table(other))
    const out = await supabaseUp(project, db)
    expect(out).not.toContain('Applying migration')
    expect(await settingsOf(db)).toEqual(settings)
  })
})
