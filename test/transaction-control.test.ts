import { describe, expect, it } from 'vitest'
import { splitStatements, type SqlSyntax } from '../src/revisions/split.js'
import { copyStdio, enumValueAdded, psqlMetaCommand, stringLiterals, stripComments, transactionControl } from '../src/revisions/transaction-control.js'

const pg: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }
const lite: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }

interface Case {
  sql: string
  kind: string
  keyword: string
}
const is = (sql: string, kind: string, keyword: string): Case => ({ sql, kind, keyword })

describe('stripComments', () => {
  it('removes a line comment', () => {
    expect(stripComments('select 1 -- one', pg)).toBe('select 1')
  })

  it('removes a block comment', () => {
    expect(stripComments('select /* the */ 1', pg)).toBe('select 1')
  })

  it('removes a leading comment', () => {
    expect(stripComments('-- note\ncommit', pg)).toBe('commit')
  })

  it('removes nested block comments whole in PostgreSQL', () => {
    expect(stripComments('/* a /* b */ c */ select 1', pg)).toBe('select 1')
  })

  it('ends a block comment at the first */ in SQLite', () => {
    expect(stripComments('/* a /* b */ c */ select 1', lite)).toBe('c */ select 1')
  })

  it('collapses whitespace and comments between tokens to one space', () => {
    expect(stripComments('select\n\t 1 /* x */ ,  -- y\n  2', pg)).toBe('select 1 , 2')
  })

  it('keeps tokens apart that only a comment separated', () => {
    expect(stripComments('select/**/1', pg)).toBe('select 1')
  })

  it('keeps comment-like text and whitespace inside strings', () => {
    expect(stripComments("select '-- a  /* b */' -- c", pg)).toBe("select '-- a  /* b */'")
  })

  it('keeps doubled quotes inside strings', () => {
    expect(stripComments("select 'it''s -- here' -- gone", pg)).toBe("select 'it''s -- here'")
  })

  it('keeps backslash-escaped quotes inside E strings', () => {
    expect(stripComments("select E'it\\'s -- here' -- gone", pg)).toBe("select E'it\\'s -- here'")
  })

  it('keeps comment-like text inside quoted identifiers', () => {
    expect(stripComments('select "a -- b" from t -- c', pg)).toBe('select "a -- b" from t')
  })

  it('keeps PostgreSQL dollar-quoted bodies untouched', () => {
    const sql = 'do $body$ begin\n  -- keep\n  perform 1; /* keep */\nend $body$'
    expect(stripComments(`${sql} -- drop`, pg)).toBe(sql)
  })

  it('reads $ as an ordinary character in SQLite', () => {
    expect(stripComments('select $$ -- gone\n$$', lite)).toBe('select $$ $$')
  })

  it('keeps SQLite bracket identifiers untouched', () => {
    expect(stripComments('select [a -- b] from t -- c', lite)).toBe('select [a -- b] from t')
  })

  it('returns an empty string for a comment-only text', () => {
    expect(stripComments('-- a\n/* b */  ', pg)).toBe('')
  })

  it('drops an unclosed block comment up to the end', () => {
    expect(stripComments('select 1 /* never closed', pg)).toBe('select 1')
  })
})

describe('transactionControl', () => {
  const postgres: Case[] = [
    is('begin', 'begin', 'BEGIN'),
    is('BEGIN WORK', 'begin', 'BEGIN WORK'),
    is('begin transaction', 'begin', 'BEGIN TRANSACTION'),
    is('BEGIN ISOLATION LEVEL SERIALIZABLE', 'begin', 'BEGIN'),
    is('begin transaction isolation level repeatable read, read only', 'begin', 'BEGIN TRANSACTION'),
    is('begin read write', 'begin', 'BEGIN'),
    is('BEGIN NOT DEFERRABLE', 'begin', 'BEGIN'),
    is('start transaction', 'begin', 'START TRANSACTION'),
    is('START TRANSACTION ISOLATION LEVEL READ COMMITTED READ ONLY DEFERRABLE', 'begin', 'START TRANSACTION'),
    is('commit', 'commit', 'COMMIT'),
    is('COMMIT WORK', 'commit', 'COMMIT WORK'),
    is('commit transaction', 'commit', 'COMMIT TRANSACTION'),
    is('commit and chain', 'commit', 'COMMIT AND CHAIN'),
    is('COMMIT AND NO CHAIN', 'commit', 'COMMIT AND NO CHAIN'),
    is('commit work and chain', 'commit', 'COMMIT WORK AND CHAIN'),
    is('end', 'commit', 'END'),
    is('END TRANSACTION', 'commit', 'END TRANSACTION'),
    is('end work and no chain', 'commit', 'END WORK AND NO CHAIN'),
    is('rollback', 'rollback', 'ROLLBACK'),
    is('ROLLBACK WORK', 'rollback', 'ROLLBACK WORK'),
    is('rollback transaction', 'rollback', 'ROLLBACK TRANSACTION'),
    is('rollback and chain', 'rollback', 'ROLLBACK AND CHAIN'),
    is('ROLLBACK AND NO CHAIN', 'rollback', 'ROLLBACK AND NO CHAIN'),
    is('abort', 'rollback', 'ABORT'),
    is('ABORT TRANSACTION', 'rollback', 'ABORT TRANSACTION'),
    is('abort work and chain', 'rollback', 'ABORT WORK AND CHAIN'),
    is('rollback to sp', 'rollback-to', 'ROLLBACK TO'),
    is('ROLLBACK TO SAVEPOINT sp', 'rollback-to', 'ROLLBACK TO SAVEPOINT'),
    is('rollback work to savepoint sp', 'rollback-to', 'ROLLBACK WORK TO SAVEPOINT'),
    is('rollback transaction to "my sp"', 'rollback-to', 'ROLLBACK TRANSACTION TO'),
    is('savepoint sp', 'savepoint', 'SAVEPOINT'),
    is('SAVEPOINT "Sp 1"', 'savepoint', 'SAVEPOINT'),
    is('release sp', 'release', 'RELEASE'),
    is('RELEASE SAVEPOINT sp', 'release', 'RELEASE SAVEPOINT'),
    is("prepare transaction 'gid'", 'prepare', 'PREPARE TRANSACTION'),
    is('PREPARE TRANSACTION $$gid$$', 'prepare', 'PREPARE TRANSACTION'),
    is("commit prepared 'gid'", 'prepare', 'COMMIT PREPARED'),
    is("ROLLBACK PREPARED 'gid'", 'prepare', 'ROLLBACK PREPARED'),
  ]
  it.each(postgres)('reads PostgreSQL $sql as $kind ($keyword)', ({ sql, kind, keyword }) => {
    expect(transactionControl(sql, pg)).toEqual({ kind, keyword })
  })

  const sqlite: Case[] = [
    is('begin', 'begin', 'BEGIN'),
    is('BEGIN DEFERRED', 'begin', 'BEGIN DEFERRED'),
    is('begin immediate', 'begin', 'BEGIN IMMEDIATE'),
    is('BEGIN IMMEDIATE TRANSACTION', 'begin', 'BEGIN IMMEDIATE TRANSACTION'),
    is('begin exclusive transaction', 'begin', 'BEGIN EXCLUSIVE TRANSACTION'),
    is('begin transaction', 'begin', 'BEGIN TRANSACTION'),
    is('BEGIN TRANSACTION t1', 'begin', 'BEGIN TRANSACTION'),
    is('commit', 'commit', 'COMMIT'),
    is('COMMIT TRANSACTION', 'commit', 'COMMIT TRANSACTION'),
    is('end', 'commit', 'END'),
    is('end transaction', 'commit', 'END TRANSACTION'),
    is('rollback', 'rollback', 'ROLLBACK'),
    is('ROLLBACK TRANSACTION', 'rollback', 'ROLLBACK TRANSACTION'),
    is('rollback to sp', 'rollback-to', 'ROLLBACK TO'),
    is('ROLLBACK TRANSACTION TO SAVEPOINT sp', 'rollback-to', 'ROLLBACK TRANSACTION TO SAVEPOINT'),
    is('rollback transaction t1 to savepoint sp', 'rollback-to', 'ROLLBACK TRANSACTION TO SAVEPOINT'),
    is('savepoint sp', 'savepoint', 'SAVEPOINT'),
    is('SAVEPOINT [sp]', 'savepoint', 'SAVEPOINT'),
    is("savepoint 'sp'", 'savepoint', 'SAVEPOINT'),
    is('release sp', 'release', 'RELEASE'),
    is('RELEASE SAVEPOINT sp', 'release', 'RELEASE SAVEPOINT'),
  ]
  it.each(sqlite)('reads SQLite $sql as $kind ($keyword)', ({ sql, kind, keyword }) => {
    expect(transactionControl(sql, lite)).toEqual({ kind, keyword })
  })

  const spelled: Case[] = [
    is('CoMmIt', 'commit', 'COMMIT'),
    is('commit /* c */', 'commit', 'COMMIT'),
    is('/* a */ commit', 'commit', 'COMMIT'),
    is('-- x\ncommit', 'commit', 'COMMIT'),
    is('commit -- done', 'commit', 'COMMIT'),
    is('COMMIT\n  AND CHAIN', 'commit', 'COMMIT AND CHAIN'),
    is('commit/* a */and/* b */chain', 'commit', 'COMMIT AND CHAIN'),
    is('commit -- and\nand -- no\nno chain', 'commit', 'COMMIT AND NO CHAIN'),
    is('/* a /* nested */ b */ rollback', 'rollback', 'ROLLBACK'),
    is('rollback /* a */ to /* b */ savepoint sp', 'rollback-to', 'ROLLBACK TO SAVEPOINT'),
    is('-- a\n-- b\n\tBegin\tTransaction', 'begin', 'BEGIN TRANSACTION'),
  ]
  it.each(spelled)('reads $sql as $kind ($keyword) whatever the case and comments', ({ sql, kind, keyword }) => {
    expect(transactionControl(sql, pg)).toEqual({ kind, keyword })
  })

  const others: Array<[string, SqlSyntax]> = [
    ['create function f() returns int language sql begin atomic select 1; end', pg],
    ['begin atomic select 1; end', pg],
    ['create function f() returns int as $$ begin return 1; end $$ language plpgsql', pg],
    ['do $$ begin perform 1; end $$', pg],
    ['do $$ begin commit; end $$', pg],
    ['create trigger tr after insert on t begin update t set x = 1; end', lite],
    ["select 'commit'", pg],
    ['select commit_ts from t', pg],
    ['select case when x then 1 else 2 end from t', pg],
    ['update t set a = case when b then 1 end', lite],
    ['create table begin (x int)', pg],
    ['insert into "commit" values (1)', pg],
    ['select [commit] from t', lite],
    ['prepare foo as select 1', pg],
    ['prepare foo (int) as select $1', pg],
    ['beginning', pg],
    ['committed', pg],
    ['end_date', pg],
    ['release_notes', pg],
    ['start', pg],
    ['start_time', pg],
    ['select 1 -- commit', pg],
    ['/* commit */ select 1', pg],
    ['-- commit\nselect 1', pg],
    ['', pg],
    ['-- only a comment', pg],
  ]
  it.each(others)('leaves %j alone', (sql, syntax) => {
    expect(transactionControl(sql, syntax)).toBeUndefined()
  })

  it('flags only the transaction statements of a split PostgreSQL file', () => {
    const file = `create table t (a int);
create function f() returns int language sql begin atomic select case when true then 1 end; end;
do $$ begin perform 1; end $$;
-- done here
commit and chain;
select 'commit' as begin;
rollback /* undo */ to savepoint s;`
    const flagged = splitStatements(file, pg).map((s) => transactionControl(s.text, pg)?.keyword)
    expect(flagged).toEqual([undefined, undefined, undefined, 'COMMIT AND CHAIN', undefined, 'ROLLBACK TO SAVEPOINT'])
  })

  it('flags only the transaction statements of a split SQLite file', () => {
    const file = `create table [begin] (x int);
create trigger tr after insert on [begin] begin update [begin] set x = case when x > 0 then 1 end; end;
begin immediate transaction;
insert into [begin] values (1);
end;`
    const flagged = splitStatements(file, lite).map((s) => transactionControl(s.text, lite)?.keyword)
    expect(flagged).toEqual([undefined, undefined, 'BEGIN IMMEDIATE TRANSACTION', undefined, 'END'])
  })

  it('hides a COMMIT inside a nested comment in PostgreSQL', () => {
    expect(transactionControl('/* a /* b */ commit */ select 1', pg)).toBeUndefined()
  })

  it('sees a COMMIT after the first */ in SQLite, whose comments do not nest', () => {
    expect(transactionControl('/* a /* b */ commit */ select 1', lite)).toEqual({ kind: 'commit', keyword: 'COMMIT' })
  })
})

describe('copyStdio', () => {
  const stdio: Array<[string, 'from-stdin' | 'to-stdout']> = [
    ['COPY t FROM STDIN', 'from-stdin'],
    ['copy t from stdin', 'from-stdin'],
    ['copy public.t (a, b) from stdin with (format csv, header true)', 'from-stdin'],
    ["COPY t FROM STDIN WITH CSV HEADER DELIMITER ';'", 'from-stdin'],
    ['COPY BINARY t FROM STDIN', 'from-stdin'],
    ['COPY t FROM STDOUT', 'from-stdin'],
    ['/* load */ copy t from /* here */ stdin', 'from-stdin'],
    ['-- load\nCopy "from" (a) From Stdin', 'from-stdin'],
    ['COPY t TO STDOUT', 'to-stdout'],
    ['copy t (a) to stdout with (format csv)', 'to-stdout'],
    ['copy (select a from b where c > 1) to stdout', 'to-stdout'],
    ['COPY (select 1 from (select 2 from t) s) TO STDOUT WITH (FORMAT binary)', 'to-stdout'],
    ['\\copy t from stdin', 'from-stdin'],
    ['\\copy t from pstdin with (format csv)', 'from-stdin'],
    ['\\copy (select 1 from t) to stdout', 'to-stdout'],
    ['\\COPY t TO PSTDOUT', 'to-stdout'],
    ['-- export\n\\copy t to stdout', 'to-stdout'],
  ]
  it.each(stdio)('reads %j as %s', (sql, expected) => {
    expect(copyStdio(sql, pg)).toBe(expected)
  })

  const others = [
    "COPY t FROM '/path/file'",
    "copy t to '/tmp/out.csv' with (format csv)",
    "copy t from program 'gzip -dc t.gz'",
    "copy (select 'from stdin') to '/tmp/x'",
    "copy stdin from '/path/file'",
    "\\copy t from 'file.csv'",
    '\\set x 1',
    'select * from stdin',
    "insert into copy_log values ('copy t from stdin')",
    "select 'COPY t FROM STDIN'",
    '-- copy t from stdin\nselect 1',
    'copy',
    '',
  ]
  it.each(others)('leaves %j alone', (sql) => {
    expect(copyStdio(sql, pg)).toBeUndefined()
  })

  it('reads COPY FROM STDIN with SQLite syntax too', () => {
    expect(copyStdio('copy t from stdin', lite)).toBe('from-stdin')
  })
})

describe('psqlMetaCommand', () => {
  const commands: Array<[string, string]> = [
    ['\\set x 1', '\\set'],
    ['\\connect other', '\\connect'],
    ['\\c other', '\\c'],
    ['\\i other.sql', '\\i'],
    ['\\ir ../shared.sql', '\\ir'],
    ['\\copy t from stdin', '\\copy'],
    ['\\.', '\\.'],
    ['\\dt+', '\\dt+'],
    ['\\gset', '\\gset'],
    ['\\set ON_ERROR_STOP on\nselect 1', '\\set'],
    ['-- switch\n\\c other', '\\c'],
    ['/* a /* nested */ b */ \\set x 1', '\\set'],
  ]
  it.each(commands)('reads %j as %s', (sql, command) => {
    expect(psqlMetaCommand(sql)).toBe(command)
  })

  const others = ['select 1', "select E'\\n'", "select '\\set'", '-- \\set x 1\nselect 1', '', '\\']
  it.each(others)('leaves %j alone', (sql) => {
    expect(psqlMetaCommand(sql)).toBeUndefined()
  })
})

describe('enumValueAdded', () => {
  const adds: Array<[string, string]> = [
    ["alter type mood add value 'happy'", 'happy'],
    ["ALTER TYPE app.mood ADD VALUE IF NOT EXISTS 'happy' BEFORE 'sad'", 'happy'],
    ['alter type "My Mood" add value \'it\'\'s\' after \'sad\'', "it's"],
    ["alter /* c */ type mood\n  add value 'happy'", 'happy'],
  ]
  it.each(adds)('reads %j as adding %j', (sql, value) => {
    expect(enumValueAdded(sql, pg)).toBe(value)
  })

  const others = ["alter type mood rename value 'a' to 'b'", 'alter type point3 add attribute z int', "create type mood as enum ('happy')", "select 'alter type'"]
  it.each(others)('leaves %j alone', (sql) => {
    expect(enumValueAdded(sql, pg)).toBeUndefined()
  })
})

describe('stringLiterals', () => {
  it('lists the literals of a statement with their offsets', () => {
    expect(stringLiterals("update t set a = 'x', b = E'y' where c = 'it''s'", pg)).toEqual([
      { value: 'x', at: 17 },
      { value: 'y', at: 27 },
      { value: "it's", at: 41 },
    ])
  })

  it('leaves out comments, quoted identifiers and function bodies', () => {
    expect(stringLiterals(`select "x" -- 'a'\n/* 'b' */ from t; create function f() returns text language sql as $$ select 'c' $$`, pg)).toEqual([])
  })

  it('reads the literals in the body of a DO block, at their place in the statement', () => {
    const sql = "do $$ begin insert into t values ('x'); end $$"
    expect(stringLiterals(sql, pg)).toEqual([{ value: 'x', at: sql.indexOf("'x'") }])
  })

  it('reads nothing in an ALTER TYPE statement', () => {
    expect(stringLiterals("alter type mood add value 'b' after 'a'", pg)).toEqual([])
  })
})
