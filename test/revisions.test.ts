import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadRevisions } from '../src/revisions/load.js'
import { parseSqlRevision } from '../src/revisions/sql-file.js'
import { splitStatements } from '../src/revisions/split.js'
import { revisions } from './helpers.js'

const pg = { dollarQuotes: true, brackets: false, nestedComments: true }
const lite = { dollarQuotes: false, brackets: true, nestedComments: false }
const texts = (sql: string, syntax = pg) => splitStatements(sql, syntax).map((s) => s.text)

describe('splitting SQL into statements', () => {
  it('keeps semicolons inside strings, identifiers, comments and dollar quotes', () => {
    expect(
      texts(`insert into t values ('a;b', E'c\\';d');
select "x;y" from t; -- trailing; comment
/* block; /* nested; */ still */ select 1;
create function f() returns int as $body$ begin return 1; end; $body$ language plpgsql;
do $$ begin perform 1; end $$`),
    ).toEqual([
      "insert into t values ('a;b', E'c\\';d')",
      'select "x;y" from t',
      'select 1',
      'create function f() returns int as $body$ begin return 1; end; $body$ language plpgsql',
      'do $$ begin perform 1; end $$',
    ])
  })

  it('keeps SQLite trigger bodies and PostgreSQL BEGIN ATOMIC bodies whole', () => {
    expect(texts('create trigger tr after insert on t begin update u set n = n + 1; select case when 1 then 2 end; end; select 2', lite)).toEqual([
      'create trigger tr after insert on t begin update u set n = n + 1; select case when 1 then 2 end; end',
      'select 2',
    ])
    expect(texts('create function g() returns int language sql begin atomic select 1; select 2; end; select 3')).toEqual([
      'create function g() returns int language sql begin atomic select 1; select 2; end',
      'select 3',
    ])
  })

  it('gives each statement the file line it starts on', () => {
    const st = splitStatements('\n-- note\nselect 1;\n\n  select\n 2;', pg, 10)
    expect(st.map((s) => s.line)).toEqual([12, 14])
  })
})

describe('SQL revision files', () => {
  it('reads up and down sections and the no-transaction directive', () => {
    const r = parseSqlRevision('-- header comment\n-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently i on t (x);\n-- migrate:down\ndrop index i;\n', 'f.sql', pg)
    expect(r.transaction).toBe(false)
    expect(r.up.statements).toEqual([{ text: 'create index concurrently i on t (x)', line: 4 }])
    expect(r.down?.text).toBe('drop index i;')
  })

  it("reads dbmate's transaction:false option", () => {
    expect(parseSqlRevision('-- migrate:up transaction:false\nvacuum;', 'f.sql', pg).transaction).toBe(false)
  })

  it('rejects a file without an up section', () => {
    expect(() => parseSqlRevision('create table t (x int);', 'migrations/0001_t.sql', pg)).toThrow(
      expect.objectContaining({ code: 'INVALID_REVISION', message: expect.stringContaining('migrations/0001_t.sql') }),
    )
  })

  it('rejects an unknown directive instead of ignoring a typo', () => {
    expect(() => parseSqlRevision('-- migrate:up\n-- migrate:no-transcation\nvacuum;', 'f.sql', pg)).toThrow(
      expect.objectContaining({ code: 'INVALID_REVISION', line: 2 }),
    )
  })
})

describe('loading a folder', () => {
  it('orders revisions by numeric id, whatever the prefix length', async () => {
    const dir = await revisions({
      '10_c.sql': '-- migrate:up\nselect 1;',
      '9_b.sql': '-- migrate:up\nselect 1;',
      '20261121093000_d.sql': '-- migrate:up\nselect 1;',
      '0001_a.sql': '-- migrate:up\nselect 1;',
      'README.md': 'ignored',
    })
    expect((await loadRevisions({ dir }, pg)).map((r) => r.id)).toEqual(['0001', '9', '10', '20261121093000'])
  })

  it('rejects two files with the same id before anything runs', async () => {
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;', '0001_b.sql': '-- migrate:up\nselect 2;' })
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('Duplicate revision id 0001') })
  })

  it('rejects a .sql file whose name has no id', async () => {
    const dir = await revisions({ 'create_users.sql': '-- migrate:up\nselect 1;' })
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION' })
  })

  it('loads JS modules with up, down and transaction exports', async () => {
    const dir = await revisions({ '0002_js.mjs': 'export const transaction = false\nexport async function up() {}\nexport async function down() {}\n' })
    const [r] = await loadRevisions({ dir }, pg)
    expect(r).toMatchObject({ id: '0002', name: 'js', transaction: false, checksum: null, up: { kind: 'fn' }, down: { kind: 'fn' } })
  })

  it('rejects a module without an up function', async () => {
    const dir = await revisions({ '0002_js.mjs': 'export const down = () => {}\n' })
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('missing "up"') })
  })

  it('sees a file added to or edited in a folder it has already read in this process', async () => {
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;' })
    const [first] = await loadRevisions({ dir }, pg)
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\nselect 2;')
    await writeFile(join(dir, '0001_a.sql'), '-- migrate:up\nselect 11;')
    const again = await loadRevisions({ dir }, pg)
    expect(again.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(again[0]!.checksum).not.toBe(first!.checksum)
  })

  it('gives identical SQL the same checksum in a file and in code', async () => {
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const [fromFile] = await loadRevisions({ dir }, pg)
    const [fromCode] = await loadRevisions({ migrations: [{ id: '0001', up: 'create table a (x int);' }] }, pg)
    expect(fromFile!.checksum).toBe(fromCode!.checksum)
  })
})
