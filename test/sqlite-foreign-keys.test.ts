import { copyFile } from 'node:fs/promises'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { sqliteDialect } from '../src/dialects/sqlite.js'
import { createMigrator, type MigrationError } from '../src/index.js'
import { revisions } from './helpers.js'
import { freshFile, open } from './sqlite-helpers.js'

const quiet = { logger: false as const }
const fail = (p: Promise<unknown>) => p.then(() => expect.unreachable('the run should have failed'), (e: unknown) => e as MigrationError)

const schema =
  '-- migrate:up\n' +
  'create table authors (id integer primary key, name text not null);\n' +
  'create table books (id integer primary key, author_id integer not null references authors (id) on delete cascade, title text not null);\n' +
  "insert into authors values (1, 'Le Guin'), (2, 'Lem');\n" +
  "insert into books values (1, 1, 'The Dispossessed'), (2, 1, 'The Lathe of Heaven'), (3, 2, 'Solaris');\n"

/** The table rebuild drizzle-kit and other schema tools generate for a change SQLite's ALTER TABLE cannot make. */
const rebuild = (where = '') =>
  '-- migrate:up\n' +
  'PRAGMA foreign_keys=OFF;\n' +
  "CREATE TABLE `__new_authors` (`id` integer PRIMARY KEY NOT NULL, `name` text NOT NULL, `country` text DEFAULT 'unknown' NOT NULL);\n" +
  `INSERT INTO \`__new_authors\`("id", "name") SELECT "id", "name" FROM \`authors\`${where};\n` +
  'DROP TABLE `authors`;\n' +
  'ALTER TABLE `__new_authors` RENAME TO `authors`;\n' +
  'PRAGMA foreign_keys=ON;\n'

const books = (db: Database.Database) => db.prepare('select title from books order by id').pluck().all()

describe('SQLite table rebuilds with foreign keys off', () => {
  it('rebuilds a parent table without cascade-deleting the rows of its ON DELETE CASCADE children', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_schema.sql': schema, '0002_rebuild_authors.sql': rebuild() })
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])

    const db = open(file)
    expect(books(db)).toEqual(['The Dispossessed', 'The Lathe of Heaven', 'Solaris'])
    expect(db.prepare('select id, name, country from authors order by id').all()).toEqual([
      { id: 1, name: 'Le Guin', country: 'unknown' },
      { id: 2, name: 'Lem', country: 'unknown' },
    ])
    expect(db.prepare('PRAGMA foreign_key_check').all()).toEqual([])
    // The children still point at the rebuilt table: the constraint holds.
    expect(() => db.prepare("insert into books values (4, 99, 'Nobody')").run()).toThrow(/FOREIGN KEY constraint failed/)
  })

  it('is needed: the same rebuild run naively in one transaction deletes the children', async () => {
    const file = await freshFile()
    await createMigrator({ url: `sqlite:${file}`, dir: await revisions({ '0001_schema.sql': schema }), ...quiet }).run()
    const copy = `${file}.copy.db`
    await copyFile(file, copy)
    const db = open(copy)
    // What a migrator that wraps the file in BEGIN … COMMIT does: SQLite ignores the PRAGMA inside the transaction.
    db.exec(`BEGIN; ${rebuild().replace('-- migrate:up\n', '')} COMMIT;`)
    expect(books(db)).toEqual([])
  })

  it('rolls the rebuild back with an error naming the tables when it leaves rows that violate a foreign key', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_schema.sql': schema, '0002_rebuild_authors.sql': rebuild(' WHERE "id" <> 2') })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 7 })
    expect(error.message).toContain('foreign_key_check')
    expect(error.message).toContain('1 row in "books" references missing rows in "authors"')
    expect(error.message).toContain('rolled back')

    const db = open(file)
    expect(db.prepare('select id, name from authors order by id').all()).toEqual([
      { id: 1, name: 'Le Guin' },
      { id: 2, name: 'Lem' },
    ])
    expect(books(db)).toEqual(['The Dispossessed', 'The Lathe of Heaven', 'Solaris'])
    expect(db.prepare('select id from boot_migrate_history').pluck().all()).toEqual(['0001'])
  })

  it("puts the connection's foreign_keys setting back after a rebuild, whether it succeeded or failed", async () => {
    const dir = await revisions({ '0001_schema.sql': schema, '0002_rebuild_authors.sql': rebuild(' WHERE "id" <> 2') })
    const on = new Database(':memory:')
    await fail(createMigrator({ client: on, dir, ...quiet }).run())
    expect(on.pragma('foreign_keys', { simple: true })).toBe(1)
    on.close()

    const off = new Database(':memory:')
    off.pragma('foreign_keys = OFF')
    const ok = await revisions({ '0001_schema.sql': schema, '0002_rebuild_authors.sql': rebuild() })
    await createMigrator({ client: off, dir: ok, ...quiet }).run()
    expect(off.pragma('foreign_keys', { simple: true })).toBe(0)
    expect(books(off)).toHaveLength(3)
    off.close()
  })

  it('does not blame a rebuild for violations that were in the database before it', async () => {
    const file = await freshFile()
    await createMigrator({ url: `sqlite:${file}`, dir: await revisions({ '0001_schema.sql': schema }), ...quiet }).run()
    const app = open(file)
    app.pragma('foreign_keys = OFF')
    app.prepare("insert into books values (9, 42, 'Orphan')").run()
    app.close()

    const dir = await revisions({ '0001_schema.sql': schema, '0002_rebuild_authors.sql': rebuild() })
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(books(open(file))).toHaveLength(4)
  })

  it('tells a JS revision that switching foreign keys inside its transaction does nothing', async () => {
    const file = await freshFile()
    const error = await fail(
      createMigrator({
        url: `sqlite:${file}`,
        migrations: [{ id: '1', up: "create table a (x int);" }, { id: '2', up: async ({ exec }) => exec('PRAGMA foreign_keys = OFF; drop table a;') }],
        ...quiet,
      }).run(),
    )
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '2' })
    expect(error.message).toContain('transaction = false')
    expect(open(file).prepare("select name from sqlite_master where name = 'a'").pluck().all()).toEqual(['a'])
  })
})

/** A parent and a child table that a down script can drop again, and a rebuild of the parent that can be reverted. */
const reversibleSchema =
  '-- migrate:up\n' +
  'create table authors (id integer primary key, name text not null);\n' +
  'create table books (id integer primary key, author_id integer not null references authors (id) on delete cascade, title text not null);\n' +
  "insert into authors values (1, 'Le Guin'), (2, 'Lem');\n" +
  "insert into books values (1, 1, 'The Dispossessed'), (2, 2, 'Solaris');\n" +
  '-- migrate:down\ndrop table books;\ndrop table authors;\n'

const rebuildAuthors = (columns: string, copy: string) =>
  'PRAGMA foreign_keys=OFF;\n' +
  `create table __new_authors (${columns});\n` +
  `insert into __new_authors (${copy}) select ${copy} from authors;\n` +
  'drop table authors;\n' +
  'alter table __new_authors rename to authors;\n' +
  'PRAGMA foreign_keys=ON;\n'

const countryRebuild =
  '-- migrate:up\n' +
  rebuildAuthors("id integer primary key, name text not null, country text not null default 'unknown'", 'id, name') +
  '-- migrate:down\n' +
  rebuildAuthors('id integer primary key, name text not null', 'id, name')

describe('reverting and printing SQLite table rebuilds', () => {
  it('reverts a parent-table rebuild written with foreign keys off without deleting the children', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_schema.sql': reversibleSchema, '0002_country.sql': countryRebuild })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).down()
    const db = open(file)
    expect(db.prepare('select name from pragma_table_info(?)').pluck().all('authors')).toEqual(['id', 'name'])
    expect(books(db)).toEqual(['The Dispossessed', 'Solaris'])
  })

  it('prints a script that, run by hand, rebuilds a parent table without deleting the children', async () => {
    const file = await freshFile()
    await createMigrator({ url: `sqlite:${file}`, dir: await revisions({ '0001_schema.sql': reversibleSchema }), ...quiet }).run()
    const dir = await revisions({ '0001_schema.sql': reversibleSchema, '0002_country.sql': countryRebuild })
    const text = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).script()
    const lines = text.split('\n')
    expect(lines.indexOf('PRAGMA foreign_keys = OFF;')).toBeLessThan(lines.indexOf('BEGIN IMMEDIATE;'))
    // The revision's own switches would do nothing inside the transaction: they are moved around it.
    const transaction = lines.slice(lines.indexOf('BEGIN IMMEDIATE;'), lines.indexOf('COMMIT;'))
    expect(transaction.filter((l) => /^PRAGMA foreign_keys\s*=\s*\w+;$/i.test(l))).toEqual([])
    expect(lines[lines.indexOf('COMMIT;') + 1]).toBe('PRAGMA foreign_keys = ON;')

    const db = open(file)
    db.exec(text)
    expect(books(db)).toEqual(['The Dispossessed', 'Solaris'])
    expect(db.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002'])
  })
})

describe('the SQLite schema description behind round trips', () => {
  it('describes the schema so that a revision, its down script and the revision again compare equal', async () => {
    const db = new Database(':memory:')
    const dir = await revisions({
      '0001_schema.sql': reversibleSchema,
      '0002_email.sql':
        '-- migrate:up\nalter table authors add column email text;\ncreate unique index authors_email on authors (email);\n' +
        '-- migrate:down\ndrop index authors_email;\nalter table authors drop column email;\n',
    })
    const dialect = await sqliteDialect({ client: db }, { table: 'boot_migrate_history', schema: 'main', instanceId: 'test', ddlLockTimeout: 1000, debug: () => undefined })
    const migrator = createMigrator({ client: db, dir, ...quiet })
    await createMigrator({ client: db, dir, to: '0001', ...quiet }).run()
    const base = await dialect.schemaSnapshot()
    await migrator.run()
    const upped = await dialect.schemaSnapshot()
    await createMigrator({ client: db, dir, ...quiet }).down()
    expect(await dialect.schemaSnapshot()).toEqual(base)
    await createMigrator({ client: db, dir, ...quiet }).run()
    expect(await dialect.schemaSnapshot()).toEqual(upped)
    expect(upped).toContain('column authors.email TEXT null')
    expect(upped.some((l) => l.startsWith('index authors_email:'))).toBe(true)
    expect(upped.join('\n')).not.toContain('boot_migrate_history')
    expect(upped).toContain('foreign key books.author_id -> authors.id on update NO ACTION on delete CASCADE')
    db.close()
  })
})
