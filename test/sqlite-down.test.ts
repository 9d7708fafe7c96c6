import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { sqliteDialect } from '../src/dialects/sqlite.js'
import { createMigrator } from '../src/index.js'
import { revisions } from './helpers.js'
import { freshFile, open, tables } from './sqlite-helpers.js'

const quiet = { logger: false as const }

const schema =
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

const books = (db: Database.Database) => db.prepare('select title from books order by id').pluck().all()

describe('reverting and printing SQLite revisions', () => {
  it('reverts the newest revision with its down script and forgets its history row', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_schema.sql': schema,
      '0002_notes.sql': '-- migrate:up\ncreate table notes (x int);\n-- migrate:down\ndrop table notes;\n',
    })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).down()
    expect(result).toMatchObject({ reverted: [{ id: '0002', name: 'notes' }], current: '0001' })
    const db = open(file)
    expect(tables(db)).not.toContain('notes')
    expect(db.prepare('select id from boot_migrate_history').pluck().all()).toEqual(['0001'])
  })

  it('reverts a parent-table rebuild written with foreign keys off without deleting the children', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_schema.sql': schema, '0002_country.sql': countryRebuild })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).down()
    const db = open(file)
    expect(db.prepare('select name from pragma_table_info(?)').pluck().all('authors')).toEqual(['id', 'name'])
    expect(books(db)).toEqual(['The Dispossessed', 'Solaris'])
  })

  it('prints a script that, run by hand, rebuilds a parent table without deleting the children', async () => {
    const file = await freshFile()
    await createMigrator({ url: `sqlite:${file}`, dir: await revisions({ '0001_schema.sql': schema }), ...quiet }).run()
    const dir = await revisions({ '0001_schema.sql': schema, '0002_country.sql': countryRebuild })
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

  it('reports each applied revision with when, how long and by whom in status', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_schema.sql': schema, '0002_country.sql': countryRebuild })
    await createMigrator({ url: `sqlite:${file}`, dir, to: '0001', ...quiet }).run()
    const report = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).status()
    expect(report).toMatchObject({ current: '0001', head: '0002', pending: ['0002'], dirty: [] })
    const first = report.revisions.find((r) => r.id === '0001')!
    expect(first.state).toBe('applied')
    expect(Date.parse(first.appliedAt!)).toBeGreaterThan(Date.now() - 60_000)
    expect(first.appliedBy).toMatch(/:\d+$/)
  })

  it('describes the schema so that a revision, its down script and the revision again compare equal', async () => {
    const db = new Database(':memory:')
    const dir = await revisions({
      '0001_schema.sql': schema,
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
