// Files and folders as they are found on disk (issue 11): symbolic links (the Kubernetes ConfigMap layout),
// extensions in any case, ids equal as numbers, encodings, and the folders of other tools. Each case runs on
// real files against a real server, and a refused folder leaves the database without a history table.
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { captureLog, revisions } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type Connection } from './targets.js'

const up = (table: string) => `-- migrate:up\ncreate table ${table} (x int);\n\n-- migrate:down\ndrop table ${table};\n`

/**
 * A folder as kubelet mounts a ConfigMap: the files live in a timestamped hidden folder, `..data` links to it,
 * and each key is a link through `..data`. `update` writes a new timestamped folder and swaps `..data` atomically.
 */
async function configMap(files: Record<string, string>) {
  const dir = await revisions({})
  let generation = 0
  const publish = async (next: Record<string, string>) => {
    const real = join(dir, `..2026_11_29_23_00_0${generation++}.000000001`)
    await mkdir(real)
    for (const [name, text] of Object.entries(next)) await writeFile(join(real, name), text)
    await symlink(real.slice(dir.length + 1), join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    for (const name of Object.keys(next)) await symlink(join('..data', name), join(dir, name)).catch(() => undefined)
  }
  await publish(files)
  return { dir, update: publish }
}

describe.each(targets)('revision files on disk ($label)', (target) => {
  const run = (connection: Connection, dir: string, extra: Record<string, unknown> = {}) => createMigrator({ ...connection, dir, ...quiet, ...extra }).run()

  /** The run must be refused with INVALID_REVISION before anything reaches the database. */
  const refused = async (dir: string) => {
    const db = await target.fresh()
    const error = await failure(run(db.connection, dir))
    expect(error.code).toBe('INVALID_REVISION')
    expect(await db.tables()).toEqual([])
    return error
  }

  describe('symbolic links', () => {
    it('applies the files of a ConfigMap mount (links through ..data) and sees a ConfigMap update', async () => {
      const db = await target.fresh()
      const cm = await configMap({ '0001_a.sql': up('a') })
      await expect(run(db.connection, cm.dir)).resolves.toMatchObject({ applied: [{ id: '0001' }], current: '0001' })
      expect(await db.tables()).toContain('a')

      // The update swaps ..data: the link 0001_a.sql is untouched, what it points to changed; a new key is added.
      await cm.update({ '0001_a.sql': up('a'), '0002_b.sql': up('b') })
      await expect(run(db.connection, cm.dir)).resolves.toMatchObject({ applied: [{ id: '0002' }], current: '0002' })
      expect(await db.tables()).toContain('b')

      // An update that edits an applied file (same size, so only the link's target tells) is caught.
      await cm.update({ '0001_a.sql': up('z'), '0002_b.sql': up('b') })
      await expect(failure(run(db.connection, cm.dir))).resolves.toMatchObject({ code: 'CHECKSUM_MISMATCH', revision: '0001' })
    })

    it('follows a link to the folder itself and links to files elsewhere', async () => {
      const db = await target.fresh()
      const elsewhere = await revisions({ 'shared.sql': up('shared') })
      const real = await revisions({ '0001_a.sql': up('a') })
      await symlink(join(elsewhere, 'shared.sql'), join(real, '0002_shared.sql'))
      const link = join(await revisions({}), 'migrations')
      await symlink(real, link)
      await expect(run(db.connection, link)).resolves.toMatchObject({ current: '0002' })
      expect(await db.tables()).toEqual(expect.arrayContaining(['a', 'shared']))
    })

    it('refuses a link named like a revision whose target is missing, naming the link and the target', async () => {
      const dir = await revisions({ '0001_a.sql': up('a') })
      await symlink('..data/0002_b.sql', join(dir, '0002_b.sql'))
      const error = await refused(dir)
      expect(error.file).toBe(join(dir, '0002_b.sql'))
      expect(error.message).toContain(`${join(dir, '0002_b.sql')}: a symbolic link to ..data/0002_b.sql, which does not exist`)
    })
  })

  describe('a folder with no revision', () => {
    it('warns, naming the absolute folder, when the history is empty too', async () => {
      const db = await target.fresh()
      const dir = await revisions({ 'README.md': 'the revisions are somewhere else' })
      const log = captureLog()
      await expect(run(db.connection, dir, { logger: log.logger })).resolves.toMatchObject({ upToDate: true, applied: [] })
      expect(log.text()).toMatch(new RegExp(`^warn .*the migrations folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} holds no revision`, 'm'))
    })

    it('does not warn when the history has revisions (the folder is older code, or they were stamped)', async () => {
      const db = await target.fresh()
      await run(db.connection, await revisions({ '0001_a.sql': up('a') }))
      const log = captureLog()
      await expect(run(db.connection, await revisions({}), { logger: log.logger })).resolves.toMatchObject({ upToDate: true, unknown: ['0001'] })
      expect(log.text()).not.toContain('holds no revision')
    })

    it('refuses a folder that does not exist', async () => {
      const db = await target.fresh()
      const error = await failure(run(db.connection, join(await revisions({}), 'missing')))
      expect(error).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('Cannot read the migrations folder') })
      expect(await db.tables()).toEqual([])
    })
  })

  describe('names', () => {
    it('reads extensions in any case (.SQL, .Sql) as revisions', async () => {
      const db = await target.fresh()
      const dir = await revisions({ '0001_a.sql': up('a'), '0002_b.SQL': up('b'), '0003_c.Sql': up('c') })
      await expect(run(db.connection, dir)).resolves.toMatchObject({ current: '0003' })
      expect(await db.tables()).toEqual(expect.arrayContaining(['a', 'b', 'c']))
    })

    it('refuses 1_a.sql next to 01_b.sql: the same id as a number, naming both files', async () => {
      const dir = await revisions({ '1_a.sql': up('a'), '01_b.sql': up('b') })
      const error = await refused(dir)
      expect(error.message).toContain('Duplicate revision id')
      expect(error.message).toContain(join(dir, '1_a.sql'))
      expect(error.message).toContain(join(dir, '01_b.sql'))
    })

    it('refuses a file renamed from 1_a.sql to 0001_a.sql after it was applied, instead of applying it again', async () => {
      const db = await target.fresh()
      const dir = await revisions({ '1_a.sql': up('a') })
      await run(db.connection, dir)
      await rename(join(dir, '1_a.sql'), join(dir, '0001_a.sql'))
      await writeFile(join(dir, '2_b.sql'), up('b'))
      const error = await failure(run(db.connection, dir))
      expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0001', file: join(dir, '0001_a.sql') })
      expect(error.message).toContain('id 0001 is the number of revision 1, which the history records as applied')
      expect(await db.tables()).not.toContain('b')
      expect(await db.query(`select id from ${target.historyTable}`)).toEqual([{ id: '1' }])
    })

    it('takes a target spelled as a number (1 for 0001) in up, down, stamp and script', async () => {
      const db = await target.fresh()
      const dir = await revisions({ '0001_a.sql': up('a'), '0002_b.sql': up('b'), '0003_c.sql': up('c') })
      const m = () => createMigrator({ ...db.connection, dir, ...quiet })
      await expect(m().stamp('1')).resolves.toEqual(['0001'])
      await expect(m().script({ from: '1', to: '2' })).resolves.toContain('create table b')
      await expect(createMigrator({ ...db.connection, dir, ...quiet, to: '3' }).run()).resolves.toMatchObject({ current: '0003' })
      await expect(m().down({ to: '2' })).resolves.toMatchObject({ reverted: [{ id: '0003' }], current: '0002' })
      expect(await db.tables()).toEqual(expect.arrayContaining(['b']))
      expect(await db.tables()).not.toContain('c')
    })

    it('refuses <id>_<name>.psql (only .sql is SQL), and leaves 0003_x.sql.txt and notes alone', async () => {
      const error = await refused(await revisions({ '0001_a.sql': up('a'), '0002_b.psql': up('b') }))
      expect(error.message).toContain('only .sql files are read as SQL revisions; rename it to 0002_b.sql')

      const db = await target.fresh()
      const dir = await revisions({ '0001_a.sql': up('a'), '0002_b.sql.txt': up('b'), 'notes.txt': 'x', '0003_c.sql.bak': up('c') })
      await expect(run(db.connection, dir)).resolves.toMatchObject({ current: '0001' })
    })
  })

  describe('encoding', () => {
    it('refuses a Latin-1 file, naming the file and the line of the first byte that is not UTF-8', async () => {
      const dir = await revisions({})
      const file = join(dir, '0001_a.sql')
      // UTF-8 on the first lines, then one Latin-1 é: the column counts characters, not bytes.
      await writeFile(file, Buffer.concat([Buffer.from("-- migrate:up\n-- Zürich ☕\ncreate table a (x text);\n-- ☕ ", 'utf8'), Buffer.from("insert into a values ('caf\xe9');\n", 'latin1')]))
      const error = await refused(dir)
      expect(error).toMatchObject({ file, line: 4 })
      expect(error.message).toContain(`${file}:4: the file is not UTF-8 (byte 0xE9 at column 32;`)
      expect(error.message).toContain('iconv')
    })

    it('stores UTF-8 text as it is, drops a byte-order mark, and keeps the checksum when one is added or removed', async () => {
      const db = await target.fresh()
      const dir = await revisions({})
      const text = "-- migrate:up\ncreate table a (x text);\ninsert into a values ('café ☕');\n"
      await writeFile(join(dir, '0001_a.sql'), '\ufeff' + text)
      await expect(run(db.connection, dir)).resolves.toMatchObject({ current: '0001' })
      expect(await db.query('select x from a')).toEqual([{ x: 'café ☕' }])
      await writeFile(join(dir, '0001_a.sql'), text)
      await expect(run(db.connection, dir)).resolves.toMatchObject({ upToDate: true })
    })
  })

  describe("other tools' folders, named", () => {
    it('Flyway: R__ repeatable scripts are refused as not supported yet, naming the file (V files are read: test/contract/flyway.test.ts)', async () => {
      const dir = await revisions({ 'V1__users.sql': 'create table users (x int);\n', 'R__views.sql': 'create or replace view v as select 1 as x;\n' })
      const error = await refused(dir)
      expect(error.message).toContain(`${join(dir, 'R__views.sql')}: Flyway repeatable migrations`)
      expect(error.message).toContain('not supported yet')
      expect(error.file).toBe(join(dir, 'R__views.sql'))
    })

    it('goose: a -- +goose annotation in a file of boot-migrate\'s format (a file mixing both) is refused, with the line', async () => {
      const dir = await revisions({ '20240101000000_users.sql': '-- migrate:up\ncreate table users (x int);\n\n-- +goose Down\ndrop table users;\n' })
      const error = await refused(dir)
      expect(error).toMatchObject({ file: join(dir, '20240101000000_users.sql'), line: 4 })
      expect(error.message).toContain('is a goose annotation')
    })

    it('a folder of plain SQL files (no markers in any file) is read as up-only revisions, each in one transaction', async () => {
      const dir = await revisions({
        '0001_users.sql': '-- users\ncreate table users (x int);\ninsert into users values (1);\n',
        '0002_items.sql': 'create table items (x int);\n',
      })
      const db = await target.fresh()
      const result = await run(db.connection, dir)
      expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
      expect(await db.tables()).toEqual(['boot_migrate_history', 'items', 'users'])
      expect(await db.query('select x from users')).toEqual([{ x: 1 }])
      expect(await run(db.connection, dir)).toMatchObject({ upToDate: true })
    })

    it('a folder mixing marked and plain SQL files is refused, naming the unmarked files', async () => {
      const dir = await revisions({
        '0001_users.sql': up('users'),
        '0002_items.sql': 'create table items (x int);\n',
        '0003_tags.sql': '-- tags\ncreate table tags (x int);\n',
      })
      const error = await refused(dir)
      expect(error.message).toContain(`${join(dir, '0002_items.sql')}, ${join(dir, '0003_tags.sql')}: no "-- migrate:up" line, while other files in this folder have one`)
      expect(error.message).not.toContain('0001_users.sql,')
      expect(error.file).toBe(join(dir, '0002_items.sql'))
    })
  })

  describe("other tools' JS/TS migrations, refused before anything is imported", () => {
    const cases: Array<[string, string, string, string]> = [
      ['knex', '20240101120000_users.js', 'knex_migrations', 'exports.up = function (knex) {\n  return knex.schema.createTable("users", (t) => t.increments())\n}\nexports.down = (knex) => knex.schema.dropTable("users")\n'],
      ['knex', '20240101120000_users.mjs', 'knex_migrations', 'export async function up(knex) {\n  await knex.schema.createTable("users", (t) => t.increments())\n}\n'],
      [
        'Kysely',
        '0001_users.ts',
        'kysely_migration',
        "import { Kysely } from 'kysely'\nexport async function up(db: Kysely<any>): Promise<void> {\n  await db.schema.createTable('users').addColumn('id', 'serial').execute()\n}\n",
      ],
      ['node-pg-migrate', '1700000000000_users.js', 'pgmigrations', "exports.up = (pgm) => {\n  pgm.createTable('users', { id: 'id' })\n}\n"],
      [
        'TypeORM',
        '1700000000000-Users.ts',
        'migrations',
        "import { MigrationInterface, QueryRunner } from 'typeorm'\nexport class Users1700000000000 implements MigrationInterface {\n  public async up(queryRunner: QueryRunner): Promise<void> {\n    await queryRunner.query('create table users (id int)')\n  }\n}\n",
      ],
    ]
    it.each(cases)('%s (%s)', async (tool, name, table, text) => {
      const dir = await revisions({ '0000_first.sql': up('first'), [name]: text })
      const error = await refused(dir)
      expect(error.message).toContain(`${join(dir, name)} is a ${tool} migration`)
      expect(error.message).toContain('boot-migrate stamp <id>')
      expect(error.message).toContain(table)
      expect(error.file).toBe(join(dir, name))
    })

    it('a module of ours that takes ctx is not mistaken for one', async () => {
      const dir = await revisions({ '0001_users.mjs': "// knex-free\nexport async function up(ctx) {\n  await ctx.query('create table users (x int)')\n}\n" })
      const db = await target.fresh()
      expect((await run(db.connection, dir)).applied.map((r) => r.id)).toEqual(['0001'])
    })
  })
})
