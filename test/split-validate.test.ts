import { describe, expect, it } from 'vitest'
import { validate } from '../src/core/validate.js'
import type { Dialect } from '../src/dialects/dialect.js'
import { createMigrator } from '../src/index.js'
import { loadRevisions } from '../src/revisions/load.js'
import type { SqlSyntax } from '../src/revisions/split.js'
import { client, freshDatabase, revisions } from './helpers.js'

const pg: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }
const lite: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }
const dialect = (name: 'postgres' | 'sqlite') => ({ name, syntax: name === 'postgres' ? pg : lite, nonTransactional: () => undefined }) as unknown as Dialect

/** Loads and validates one revision file with this text; resolves to the error, or undefined when it passes. */
async function check(text: string, name: 'postgres' | 'sqlite' = 'postgres') {
  const dir = await revisions({ '0001_r.sql': text })
  try {
    validate(await loadRevisions({ dir }, dialect(name).syntax), dialect(name))
    return undefined
  } catch (e) {
    return e as Error & { code: string; file: string; line: number }
  }
}
const up = (...lines: string[]) => ['-- migrate:up', ...lines].join('\n')

describe('validating text the splitter cannot cut', () => {
  it('refuses an unclosed /* with the file and the line it opens, saying how to close it', async () => {
    const error = await check(up('create table a (x int);', '/* a note', 'create table b (x int);'))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', file: expect.stringMatching(/0001_r\.sql$/), line: 3 })
    expect(error!.message).toMatch(/0001_r\.sql:3: this \/\* comment is never closed.*Close it with \*\//)
  })

  it('refuses an unclosed string with its line', async () => {
    expect(await check(up('select 1;', "insert into t values ('it''s);", 'select 2;'))).toMatchObject({ code: 'INVALID_REVISION', line: 3 })
  })

  it('refuses an unclosed quoted identifier with its line', async () => {
    expect(await check(up('select 1 as "a;', 'select 2;'))).toMatchObject({ code: 'INVALID_REVISION', line: 2 })
  })

  it('refuses an unclosed dollar quote with its line and tag', async () => {
    const error = await check(up('select 1;', '', 'do $body$ begin perform 1; end $bdy$;'))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 4, message: expect.stringContaining('$body$') })
  })

  it('refuses an unclosed /* in a down section too', async () => {
    expect(await check(up('select 1;', '-- migrate:down', 'select 2; /* oops'))).toMatchObject({ code: 'INVALID_REVISION', line: 4 })
  })

  it('refuses an unclosed /* on SQLite, which would otherwise ignore the rest', async () => {
    expect(await check(up('create table a (x);', '/* a note', 'create table b (x);'), 'sqlite')).toMatchObject({ code: 'INVALID_REVISION', line: 3 })
  })

  it('refuses an unclosed string in a revision given as an object, naming it', async () => {
    const revs = await loadRevisions({ migrations: [{ id: '0001', up: "select 1;\nselect 'x" }] }, pg)
    expect(() => validate(revs, dialect('postgres'))).toThrow(expect.objectContaining({ code: 'INVALID_REVISION', file: 'migrations[0]', line: 2 }))
  })

  it('accepts a function whose body is quoted with a non-ASCII tag ($função$) and holds BEGIN … END', async () => {
    expect(await check(up('create function f() returns int language plpgsql as $função$', 'begin', '  return 1;', 'end;', '$função$;'))).toBeUndefined()
  })

  it('refuses a psql line with its line and what to do', async () => {
    const error = await check(up('select 1;', '\\set ON_ERROR_STOP on', 'select 2;'))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 3, message: expect.stringContaining('"\\set" is a psql command') })
  })
})

describe('validating a use of a new enum value in the transaction that adds it', () => {
  const adds = ["alter type mood add value 'happy';"]

  it('refuses a use as a string literal, naming both lines and the fix', async () => {
    const error = await check(up(...adds, 'update people', "  set mood = 'happy';"))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 4 })
    expect(error!.message).toContain('at line 2')
    expect(error!.message).toContain('-- migrate:no-transaction')
    expect(error!.message).toContain('later revision')
  })

  it('refuses a use after ADD VALUE IF NOT EXISTS … BEFORE on a schema-qualified type', async () => {
    expect(await check(up("alter type app.mood add value if not exists 'happy' before 'sad';", "select 'happy'::app.mood;"))).toMatchObject({ line: 3 })
  })

  it('refuses a use inside a DO block, which runs at once', async () => {
    expect(await check(up(...adds, "do $$ begin insert into people (mood) values ('happy'); end $$;"))).toMatchObject({ line: 3 })
  })

  it('accepts a use in a function body, which runs only when called', async () => {
    expect(await check(up(...adds, "create function h() returns mood language plpgsql as $$ begin return 'happy'; end $$;"))).toBeUndefined()
  })

  it('accepts a later ALTER TYPE that names the new value', async () => {
    expect(await check(up(...adds, "alter type mood add value 'glad' after 'happy';", "alter type mood rename value 'happy' to 'joyful';"))).toBeUndefined()
  })

  it('accepts the value in a comment, and other literals', async () => {
    expect(await check(up(...adds, "-- then set 'happy'", "update people set mood = 'sad';"))).toBeUndefined()
  })

  it('accepts a use before the ADD VALUE', async () => {
    expect(await check(up("select 'happy';", ...adds))).toBeUndefined()
  })

  it('accepts a use in a no-transaction revision, where each statement commits', async () => {
    expect(await check(up('-- migrate:no-transaction', ...adds, "update people set mood = 'happy';"))).toBeUndefined()
  })

  it('refuses a use inside the BEGIN … COMMIT of a no-transaction revision, saying to commit first', async () => {
    const error = await check(up('-- migrate:no-transaction', 'begin;', ...adds, "update people set mood = 'happy';", 'commit;'))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', line: 5, message: expect.stringContaining('COMMIT after the ADD VALUE') })
  })

  it('accepts a use after the COMMIT of a no-transaction revision', async () => {
    expect(await check(up('-- migrate:no-transaction', 'begin;', ...adds, 'commit;', "update people set mood = 'happy';"))).toBeUndefined()
  })

  it('leaves SQLite alone', async () => {
    expect(await check(up(...adds, "select 'happy';"), 'sqlite')).toBeUndefined()
  })
})

describe('validation on PostgreSQL runs before anything is applied', () => {
  it('applies nothing when a later revision has an unclosed comment', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n/* the rest\ncreate table c (x int);\n',
    })
    const error = await createMigrator({ url, dir, logger: false }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 3 })
    expect(await client(url)`select to_regclass('a') as a, to_regclass('boot_migrate_history') as h`).toEqual([{ a: null, h: null }])
  })

  it('refuses an enum value used where it is added, and applies it once the use moves to a later revision', async () => {
    const url = await freshDatabase()
    const files = {
      '0001_mood.sql': "-- migrate:up\ncreate type mood as enum ('sad');\ncreate table people (mood mood);\n",
      '0002_happy.sql': "-- migrate:up\nalter type mood add value 'happy';\ninsert into people values ('happy');\n",
    }
    const error = await createMigrator({ url, dir: await revisions(files), logger: false }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 3 })
    expect(await client(url)`select to_regtype('mood') as t`).toEqual([{ t: null }])
    const fixed = {
      ...files,
      '0002_happy.sql': "-- migrate:up\nalter type mood add value 'happy';\n",
      '0003_use.sql': "-- migrate:up\ninsert into people values ('happy');\n",
    }
    await expect(createMigrator({ url, dir: await revisions(fixed), logger: false }).run()).resolves.toMatchObject({ applied: [{}, {}, {}] })
    expect(await client(url)`select mood::text from people`).toEqual([{ mood: 'happy' }])
  })
})

describe('the hint names what the file type can do', () => {
  it('tells a .SQL file (any case) to add -- migrate:no-transaction', async () => {
    const dir = await revisions({ '0001_r.SQL': up('create index concurrently i on t (x);') })
    const d = { ...dialect('postgres'), nonTransactional: () => 'CREATE INDEX CONCURRENTLY' } as unknown as Dialect
    const error = await loadRevisions({ dir }, pg).then((list) => {
      try {
        validate(list, d)
      } catch (e) {
        return e as Error
      }
    })
    expect(error?.message).toContain('add "-- migrate:no-transaction" to the file')
  })
})
