// Taking over golang-migrate, goose and dbmate (issue 12): their folders read as they read them, their histories
// adopted as they decide "applied", nothing ever run twice, and with keepHistory their tables kept in step.
// dbmate is the real one where installed; goose and golang-migrate histories follow their source (see ../sql-tools-fixtures.ts).
import { rename } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { loadRevisions } from '../../src/revisions/load.js'
import { runWorker } from '../helpers.js'
import {
  dbmate,
  dbmateBin,
  expectedState,
  files,
  folder,
  historyTable,
  migrations,
  toolApplied,
  toolState,
  upFiles,
  type ToolName,
} from '../sql-tools-fixtures.js'
import { failure, quiet } from './support.js'
import { targets, type TestDatabase } from './targets.js'

if (!dbmateBin) console.log('dbmate is not installed (npm i dbmate, or DBMATE_BIN): its histories are written as its source writes them, and `dbmate status` is not checked')

const tools: ToolName[] = ['golang-migrate', 'goose', 'dbmate']

describe.each(targets)('taking over SQL migrators ($label)', (target) => {
  /** The real dbmate binary reaches the database by URL: not PGlite, which only this process reaches. */
  const realTool = (tool: ToolName) => tool === 'dbmate' && !!dbmateBin && !target.processes
  describe.each(tools)('%s', (tool) => {
    const list = migrations(tool, target.name)
    const ids = list.map((m) => m.version)
    const seeded = [{ name: 'seed a' }, { name: 'seed b' }]
    const table = historyTable(tool)
    const exclude = ['boot_migrate_history', table]
    const run = (db: TestDatabase, dir: string, extra: Record<string, unknown> = {}) => createMigrator({ ...db.connection, dir, ...quiet, ...extra }).run()
    /** Everything a takeover could touch, in full. */
    const state = async (db: TestDatabase) => {
      const tables = await db.tables()
      const all: Record<string, unknown> = {}
      for (const t of tables) all[t] = await db.query(`select * from ${t} order by 1`)
      return all
    }
    const users = (db: TestDatabase) => db.query('select name from users order by name')

    it('reads the folder with the tool\'s ids', async () => {
      const revs = await loadRevisions({ dir: await folder(files(tool, list)) }, { dollarQuotes: target.name === 'postgres', brackets: false, nestedComments: false })
      expect(revs.map((r) => [r.id, r.origin?.tool])).toEqual(ids.map((id) => [id, tool]))
      expect(revs.every((r) => r.down?.kind === 'sql')).toBe(true)
    })

    it('from scratch: the schema is the one applying the up files in order by hand gives', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      const result = await run(db, dir)
      expect(result.applied.map((r) => r.id)).toEqual(ids)
      expect(await users(db)).toEqual(seeded)
      const byHand = await target.fresh()
      for (const f of await upFiles(list)) await byHand.applyFile(f)
      expect(await db.schema(exclude)).toEqual(await byHand.schema(exclude))
      expect(await run(db, dir)).toMatchObject({ upToDate: true })
      // Without keepHistory the tool's table is not created.
      expect(await db.tables()).not.toContain(table)
    })

    it.skipIf(realTool(tool))('takeover at the end: nothing runs, the history is adopted', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      await toolApplied(tool, target.name, db, list, 3)
      const before = await state(db)
      const result = await run(db, dir)
      expect(result).toMatchObject({ applied: [], current: ids[2], warnings: [] })
      expect((await db.query('select id, state from boot_migrate_history order by id')).map((r) => [r.id, r.state])).toEqual(ids.map((id) => [id, 'applied']))
      const after = await state(db)
      delete after.boot_migrate_history
      expect(after).toEqual(before)
    })

    it.skipIf(realTool(tool))('takeover halfway: only the rest is applied', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      await toolApplied(tool, target.name, db, list, 2)
      const toolBefore = await toolState(tool, db)
      const result = await run(db, dir)
      expect(result.applied.map((r) => r.id)).toEqual([ids[2]])
      expect(await users(db)).toEqual(seeded)
      expect(await toolState(tool, db)).toEqual(toolBefore)
      expect((await db.query('select id from boot_migrate_history order by id')).map((r) => r.id)).toEqual(ids)
    })

    it.skipIf(realTool(tool))('a refused takeover leaves the database as it was, boot after boot; after the fix nothing runs twice', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      await toolApplied(tool, target.name, db, list, 2)
      let fix: () => Promise<void>
      let says: string
      if (tool === 'golang-migrate') {
        // Version 2 failed halfway under golang-migrate (its seed did run): the row is dirty.
        await db.query(`update schema_migrations set dirty = ${target.name === 'postgres' ? 'true' : '1'}`)
        says = 'migrate force 2'
        // What `migrate force 2` does (database/postgres SetVersion): the one row, clean.
        fix = async () => void (await db.query(`update schema_migrations set dirty = ${target.name === 'postgres' ? 'false' : '0'}`))
      } else {
        // A rebase gave the seed a new version: the tool's row for the old one matches no file.
        const seed = Object.keys(files(tool, list)).find((f) => f.startsWith(`${list[1]!.version}_`))!
        const moved = seed.replace(list[1]!.version, tool === 'goose' ? '00009' : '20240101000009')
        await rename(join(dir, seed), join(dir, moved))
        says = `${tool === 'goose' ? 'version 2' : list[1]!.version}`
        fix = () => rename(join(dir, moved), join(dir, seed))
      }
      const before = await state(db)
      expect(before).not.toHaveProperty('boot_migrate_history')
      for (let boot = 0; boot < 2; boot++) {
        const error = await failure(run(db, dir))
        expect(error.code).toBe('ADOPTION_MISMATCH')
        expect(error.message).toContain(says)
        expect(await state(db)).toEqual(before)
      }
      await fix()
      for (let boot = 0; boot < 2; boot++) {
        const result = await run(db, dir)
        expect(result.applied.map((r) => r.id)).toEqual(boot === 0 ? [ids[2]] : [])
        expect(await users(db)).toEqual(seeded)
        expect((await db.query('select id from boot_migrate_history order by id')).map((r) => r.id)).toEqual(ids)
      }
    })

    it.skipIf(!target.processes)('several processes taking over at once, with keepHistory: each migration runs once, both histories complete', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      await toolApplied(tool, target.name, db, list, 1)
      const runs = await Promise.all(Array.from({ length: 4 }, () => runWorker({ url: db.url, dir, takeover: { keepHistory: true }, lockTimeout: 60_000 })))
      for (const r of runs) expect(r.error, r.stdout).toBeUndefined()
      expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(ids.slice(1))
      expect(await users(db)).toEqual(seeded)
      expect((await db.query('select id from boot_migrate_history order by id')).map((r) => r.id)).toEqual(ids)
      expect(await toolState(tool, db)).toEqual(expectedState(tool, list, 3))
    })

    it.skipIf(realTool(tool))('keepHistory keeps the tool\'s table in step, up and down, so the tool can take over again', async () => {
      const db = await target.fresh()
      const dir = await folder(files(tool, list))
      const m = () => createMigrator({ ...db.connection, dir, takeover: { keepHistory: true }, ...quiet })
      expect((await m().run()).applied.map((r) => r.id)).toEqual(ids)
      expect(await toolState(tool, db)).toEqual(expectedState(tool, list, 3))
      if (tool === 'dbmate' && dbmateBin) expect(dbmate(db, dir, 'status').out).toMatch(/Applied: 3\s+Pending: 0/)
      await m().down()
      expect(await toolState(tool, db)).toEqual(expectedState(tool, list, 2))
      if (tool === 'dbmate' && dbmateBin) expect(dbmate(db, dir, 'status').out).toMatch(/\[ \] 20240101000003_create_items\.sql[\s\S]*Applied: 2\s+Pending: 1/)
      await m().down({ to: ids[0] })
      expect(await toolState(tool, db)).toEqual(expectedState(tool, list, 1))
      expect(await users(db)).toEqual([])
      if (tool === 'dbmate' && dbmateBin) {
        // Switching back: the real dbmate applies only what boot-migrate reverted.
        const up = dbmate(db, dir, 'up')
        expect(up.ok, up.out).toBe(true)
        expect(up.out.match(/Applying: \S+/g)).toEqual(['Applying: 20240101000002_seed.sql', 'Applying: 20240101000003_create_items.sql'])
        expect(await users(db)).toEqual(seeded)
      }
    })
  })

  describe('goose files', () => {
    const syntax = { dollarQuotes: target.name === 'postgres', brackets: false, nestedComments: false }

    it('StatementBegin/End is one statement, semicolons and all; the rest is split as usual', async () => {
      const dir = await folder(files('goose', migrations('goose', target.name)))
      const third = (await loadRevisions({ dir }, syntax))[2]!
      const statements = third.up.kind === 'sql' ? third.up.statements.map((s) => s.text) : []
      const block = migrations('goose', target.name)[2]!.block!
      expect(statements).toContain(block)
      expect(statements).toHaveLength(target.name === 'postgres' ? 4 : 3)
    })

    it('-- +goose NO TRANSACTION runs the file outside a transaction', async () => {
      const db = await target.fresh()
      const dir = await folder({
        '00001_t.sql': '-- +goose Up\ncreate table t (x int);\n\n-- +goose Down\ndrop table t;\n',
        '00002_index.sql': `-- +goose NO TRANSACTION\n-- +goose Up\n${target.sql.buildIndex('t_x', 't', 'x')};\n\n-- +goose Down\n${target.sql.dropIndex('t_x', 't')};\n`,
      })
      const revs = await loadRevisions({ dir }, syntax)
      expect(revs.map((r) => r.transaction)).toEqual([true, false])
      expect((await createMigrator({ ...db.connection, dir, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['00001', '00002'])
      expect(await db.indexes()).toContain('t_x')
    })

    it("a version is applied when its latest row says so (goose's rule): applied then rolled back by an older goose is pending", async () => {
      const db = await target.fresh()
      const list = migrations('goose', target.name)
      await toolApplied('goose', target.name, db, list, 2)
      const [yes, no] = target.name === 'postgres' ? ['true', 'false'] : ['1', '0']
      // goose before v3 inserted (version, false) on down instead of deleting.
      await db.query(`insert into goose_db_version (version_id, is_applied) values (3, ${yes})`)
      await db.query(`insert into goose_db_version (version_id, is_applied) values (3, ${no})`)
      await db.query(`insert into goose_db_version (version_id, is_applied) values (2, ${no})`)
      await db.query(`insert into goose_db_version (version_id, is_applied) values (2, ${yes})`)
      const result = await createMigrator({ ...db.connection, dir: await folder(files('goose', list)), ...quiet }).run()
      expect(result.applied.map((r) => r.id)).toEqual(['00003'])
      expect(await db.query('select name from users order by name')).toEqual([{ name: 'seed a' }, { name: 'seed b' }])
    })

    it('refuses ENVSUB ON, Go migrations and a file mixing both formats, naming the file and line', async () => {
      const envsub = await folder({ '00001_a.sql': '-- +goose Up\n-- +goose ENVSUB ON\ncreate table ${T} (x int);\n' })
      await expect(loadRevisions({ dir: envsub }, syntax)).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 2, message: expect.stringContaining('ENVSUB ON') })
      const go = await folder({ '00001_a.sql': '-- +goose Up\ncreate table a (x int);\n', '00002_b.go': 'package migrations\n' })
      await expect(loadRevisions({ dir: go }, syntax)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('goose Go migration') })
      const mixed = await folder({ '00001_a.sql': '-- +goose Up\n-- migrate:no-transaction\ncreate table a (x int);\n' })
      await expect(loadRevisions({ dir: mixed }, syntax)).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 2 })
    })
  })

  describe('golang-migrate files', () => {
    const syntax = { dollarQuotes: target.name === 'postgres', brackets: false, nestedComments: false }

    it('a file wrapped in BEGIN/COMMIT runs in our transaction; -- migrate:no-transaction (a comment to golang-migrate) runs one outside', async () => {
      const db = await target.fresh()
      const dir = await folder({
        '1_t.up.sql': 'BEGIN;\ncreate table t (x int);\ninsert into t values (1);\nCOMMIT;\n',
        '1_t.down.sql': 'drop table t;\n',
        '2_index.up.sql': `-- migrate:no-transaction\n${target.sql.buildIndex('t_x', 't', 'x')};\n`,
        '2_index.down.sql': `${target.sql.dropIndex('t_x', 't')};\n`,
      })
      const revs = await loadRevisions({ dir }, syntax)
      expect(revs.map((r) => [r.id, r.transaction, r.notice !== undefined])).toEqual([
        ['1', true, true],
        ['2', false, false],
      ])
      expect((await createMigrator({ ...db.connection, dir, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['1', '2'])
      expect(await db.indexes()).toContain('t_x')
      expect(await db.query('select x from t')).toEqual([{ x: 1 }])
    })

    it('refuses a down file without its up file, and two up files of one version', async () => {
      const lone = await folder({ '1_a.up.sql': 'select 1;\n', '2_b.down.sql': 'select 1;\n' })
      await expect(loadRevisions({ dir: lone }, syntax)).rejects.toMatchObject({ code: 'INVALID_REVISION', file: join(lone, '2_b.down.sql') })
      const twice = await folder({ '1_a.up.sql': 'select 1;\n', '01_b.up.sql': 'select 1;\n' })
      await expect(loadRevisions({ dir: twice }, syntax)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('a second up file for version 1') })
    })

    it('a version golang-migrate is at that no file has is refused, changing nothing', async () => {
      const db = await target.fresh()
      const list = migrations('golang-migrate', target.name)
      await toolApplied('golang-migrate', target.name, db, list, 3)
      const dir = await folder(files('golang-migrate', list, 2))
      const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
      expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining('at version 3, which no file in this folder has') })
      expect(await db.tables()).not.toContain('boot_migrate_history')
    })
  })

  describe('dbmate detection', () => {
    it("a boot-migrate folder on a database with another framework's schema_migrations: refused, unchanged; format: 'boot-migrate' ignores it", async () => {
      const db = await target.fresh()
      await db.query('create table schema_migrations (version varchar(255) primary key)')
      await db.query("insert into schema_migrations values ('20190101000000')")
      const dir = await folder({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
      const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
      expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining("format: 'boot-migrate'") })
      expect(await db.tables()).toEqual(['schema_migrations'])
      await expect(createMigrator({ ...db.connection, dir, format: 'boot-migrate', ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0001' }] })
    })

    it("golang-migrate's schema_migrations (version, dirty) is never taken for dbmate's", async () => {
      const db = await target.fresh()
      await db.query('create table schema_migrations (version bigint not null primary key, dirty boolean not null)')
      await db.query(`insert into schema_migrations values (1, ${target.name === 'postgres' ? 'false' : '0'})`)
      const dir = await folder({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
      const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
      expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining('dirty') })
      expect(await db.tables()).toEqual(['schema_migrations'])
    })
  })
})
