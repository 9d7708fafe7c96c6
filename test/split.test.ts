import { describe, expect, it } from 'vitest'
import { splitStatements, type SqlSyntax } from '../src/revisions/split.js'
import { pgCorpus, sqliteCorpus } from './split-corpus.js'

const pg: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }
const lite: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }
const texts = (sql: string, syntax = pg) => splitStatements(sql, syntax).map((s) => s.text)
const problemOf = (sql: string, syntax = pg) => splitStatements(sql, syntax).at(-1)?.problem

describe('splitting PostgreSQL', () => {
  it('gives back every statement of the PostgreSQL corpus whole', () => {
    expect(texts(pgCorpus.join(';\n'))).toEqual(pgCorpus)
  })

  it("keeps a rule's DO ALSO (a; b) whole: a semicolon inside parentheses never ends a statement", () => {
    expect(texts('create rule r as on insert to t do also (insert into a values (1); update b set n = n + 1); select 1')).toEqual([
      'create rule r as on insert to t do also (insert into a values (1); update b set n = n + 1)',
      'select 1',
    ])
  })

  it('reads a dollar-quote tag with non-ASCII letters ($função$)', () => {
    const fn = "create function f() returns text language plpgsql as $função$ begin return 'x'; end; $função$"
    expect(texts(`${fn};\nselect 1`)).toEqual([fn, 'select 1'])
  })

  it('reads dollar-quote tags with underscores and digits after the first character', () => {
    expect(texts('select $_1$;$_1$, $a9$;$a9$; select 2')).toEqual(['select $_1$;$_1$, $a9$;$a9$', 'select 2'])
  })

  it('takes $1 for a parameter, not a dollar quote', () => {
    expect(texts('prepare q as select $1; select $2$')).toEqual(['prepare q as select $1', 'select $2$'])
  })

  it('opens no dollar quote on a $ inside an identifier', () => {
    expect(texts('select 1 as a$b$; select 2 as c$')).toEqual(['select 1 as a$b$', 'select 2 as c$'])
  })

  it('ends a dollar quote only at its own tag, past inner ones', () => {
    expect(texts('do $outer$ begin execute $inner$ select 1; $inner$; end $outer$; select 2')).toEqual([
      'do $outer$ begin execute $inner$ select 1; $inner$; end $outer$',
      'select 2',
    ])
  })

  it('keeps a BEGIN ATOMIC body whole, CASE … END inside included', () => {
    const fn = 'create function g() returns int language sql begin atomic select 1; select case when true then 2 end; end'
    expect(texts(`${fn}; select 3`)).toEqual([fn, 'select 3'])
  })

  it('keeps a BEGIN ATOMIC procedure body whole when its statements use a column named begin', () => {
    const proc = 'create procedure p(x int) language sql begin atomic update t set begin = begin + 1 where id = x; end'
    expect(texts(`${proc}; select 1`)).toEqual([proc, 'select 1'])
  })

  it('ends a BEGIN ATOMIC body at the END where a next statement would start, not at an END inside an expression', () => {
    const fn = `create function h(n int) returns text language sql begin atomic select case when n > 0 then 'a' else "end" end from t; end`
    expect(texts(`${fn}; select 4`)).toEqual([fn, 'select 4'])
  })

  it('keeps an empty BEGIN ATOMIC body', () => {
    expect(texts('create function e() returns void language sql begin atomic end; select 5')).toEqual([
      'create function e() returns void language sql begin atomic end',
      'select 5',
    ])
  })

  it('cuts a table with columns named trigger and begin from the next statement', () => {
    expect(texts('create table t (id int, trigger text, begin int);\ninsert into t values (1, 2, 3);')).toEqual([
      'create table t (id int, trigger text, begin int)',
      'insert into t values (1, 2, 3)',
    ])
  })

  it('cuts statements that use columns named begin, trigger, end and case outside parentheses', () => {
    expect(texts('update t set begin = 1, trigger = 2; select begin, "end", "case" from t; select 3')).toEqual([
      'update t set begin = 1, trigger = 2',
      'select begin, "end", "case" from t',
      'select 3',
    ])
  })

  it('opens no body for a PostgreSQL trigger named begin', () => {
    expect(texts('create trigger begin before insert on t for each row execute function f(); select 1')).toEqual([
      'create trigger begin before insert on t for each row execute function f()',
      'select 1',
    ])
  })

  it('lets a CASE … END outside any body end with its statement', () => {
    expect(texts("select case when x then 'a' end from t; select 2")).toEqual(["select case when x then 'a' end from t", 'select 2'])
  })

  it("keeps a string whole with '' inside", () => {
    expect(texts("select 'it''s; here'; select 2")).toEqual(["select 'it''s; here'", 'select 2'])
  })

  it("keeps an E'…' string whole with \\' and \\\\ inside", () => {
    expect(texts("select E'a\\';b', e'c\\\\'; select 2")).toEqual(["select E'a\\';b', e'c\\\\'", 'select 2'])
  })

  it("reads a backslash in a standard string as an ordinary character", () => {
    expect(texts("select 'a\\'; select 2")).toEqual(["select 'a\\'", 'select 2'])
  })

  it('keeps a quoted identifier whole with ; and "" inside', () => {
    expect(texts('select 1 as "a"";b"; select 2')).toEqual(['select 1 as "a"";b"', 'select 2'])
  })

  it('keeps nested block comments whole', () => {
    expect(texts('select 1 /* a; /* b; */ c; */; select 2')).toEqual(['select 1 /* a; /* b; */ c; */', 'select 2'])
  })

  it('keeps a semicolon in a line comment out of the cut', () => {
    expect(texts('select 1 -- a; b\n + 1; select 2')).toEqual(['select 1 -- a; b\n + 1', 'select 2'])
  })

  it('drops empty statements', () => {
    expect(texts(';; select 1;;\n;')).toEqual(['select 1'])
  })

  it('cuts a psql backslash line out as a statement of its own, on its line', () => {
    expect(splitStatements('select 1;\n\\set x 1\nselect 2;\nselect 3\n\\connect other', pg)).toEqual([
      { text: 'select 1', line: 1 },
      { text: '\\set x 1', line: 2 },
      { text: 'select 2', line: 3 },
      { text: 'select 3', line: 4 },
      { text: '\\connect other', line: 5 },
    ])
  })

  it('gives each statement the file line it starts on, from firstLine', () => {
    const st = splitStatements("\n-- note\nselect 1;\n\n  select\n 2; /* x\n */ select 'a\nb'; select 3", pg, 10)
    expect(st.map((s) => s.line)).toEqual([12, 14, 16, 17])
  })
})

describe('splitting SQLite', () => {
  it('gives back every statement of the SQLite corpus whole', () => {
    expect(texts(sqliteCorpus.join(';\n'), lite)).toEqual(sqliteCorpus)
  })

  it('keeps a trigger body whole with CASE … END and a column named end inside', () => {
    const trigger = 'create trigger tr after insert on t begin update u set end = case when new.x then 1 end; select 2; end'
    expect(texts(`${trigger}; select 3`, lite)).toEqual([trigger, 'select 3'])
  })

  it('opens the body at the BEGIN after the header, not at a trigger, table or column named begin', () => {
    const trigger = 'create temp trigger if not exists begin after update of begin, x on begin when new.begin > 0 begin select 1; end'
    expect(texts(`${trigger}; select 2`, lite)).toEqual([trigger, 'select 2'])
  })

  it('cuts a table with columns named trigger, begin and end from the next statement', () => {
    expect(texts('create table t (trigger text, begin int, end int);\ninsert into t values (1, 2, 3)', lite)).toEqual([
      'create table t (trigger text, begin int, end int)',
      'insert into t values (1, 2, 3)',
    ])
  })

  it('keeps bracket and backtick identifiers whole', () => {
    expect(texts('select 1 as [a;b], 2 as `c;``d`; select 3', lite)).toEqual(['select 1 as [a;b], 2 as `c;``d`', 'select 3'])
  })

  it('ends a block comment at the first */, as SQLite does', () => {
    expect(texts('select 1 /* a /* b; */ ; select 2', lite)).toEqual(['select 1 /* a /* b; */', 'select 2'])
  })

  it('reads $ as an ordinary character', () => {
    expect(texts('select $a; select $$', lite)).toEqual(['select $a', 'select $$'])
  })
})

describe('text the splitter cannot cut', () => {
  it('makes an unclosed /* comment a problem on its line, instead of dropping the rest', () => {
    const st = splitStatements('select 1;\nselect 2 /* never\nclosed; select 3', pg)
    expect(st).toHaveLength(2)
    expect(st[1]).toMatchObject({ text: 'select 2 /* never\nclosed; select 3', line: 2, problem: { line: 2 } })
    expect(st[1]!.problem!.message).toContain('Close it with */')
  })

  it('makes a PostgreSQL comment left open by a nested /* a problem that says comments nest', () => {
    expect(problemOf('select 1 /* a /* b */ c; select 2')?.message).toContain('every /* inside it needs its own */')
  })

  it('makes an unclosed /* a problem in SQLite too, where the database would silently ignore the rest', () => {
    expect(problemOf('select 1;\n/* gone; select 2', lite)).toMatchObject({ line: 2 })
  })

  it('makes an unclosed string a problem on the line it opens', () => {
    expect(problemOf("select 1;\n\nselect 'a;\nselect 2")).toMatchObject({ line: 3, message: expect.stringContaining("Close it with '") })
  })

  it("makes an unclosed E'…' string a problem that mentions backslash escapes", () => {
    expect(problemOf("select E'a\\'; select 2")?.message).toContain("\\'")
  })

  it('makes an unclosed quoted identifier a problem', () => {
    expect(problemOf('select 1 as "a; select 2')?.message).toContain('Close it with "')
  })

  it('makes an unclosed [identifier] and `identifier` a problem in SQLite', () => {
    expect(problemOf('select 1 as [a; select 2', lite)?.message).toContain('Close it with ]')
    expect(problemOf('select 1 as `a; select 2', lite)?.message).toContain('Close it with `')
  })

  it('makes an unclosed dollar quote a problem that names its tag', () => {
    expect(problemOf('select 1;\ndo $função$ begin perform 1; end $funcao$;\nselect 2')).toMatchObject({
      line: 2,
      message: expect.stringContaining('Close it with the same $função$'),
    })
  })

  it('makes an unclosed parenthesis a problem on the line it opens', () => {
    expect(problemOf('select 1;\ncreate table t (\n  a int;\nselect 2')).toMatchObject({ line: 2, message: expect.stringContaining('Close it with )') })
  })

  it('makes a trigger body without END a problem on the line of its BEGIN', () => {
    expect(problemOf('create trigger tr after insert on t\nbegin\n  select 1\nend;\nselect 2', lite)).toMatchObject({
      line: 2,
      message: expect.stringContaining('End every statement in the body with ";"'),
    })
  })

  it('keeps the statements before the problem as they are', () => {
    expect(texts("select 1;\nselect 2;\nselect 'x")).toEqual(['select 1', 'select 2', "select 'x"])
  })
})
