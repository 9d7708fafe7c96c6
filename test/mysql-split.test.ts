import { namesIn } from '../src/dialects/mysql-schema.js'
// MySQL's lexical rules in the splitter, and what the dialect says about its statements: no database needed.
import { describe, expect, it } from 'vitest'
import { implicitCommit, MYSQL_SYNTAX, mysqlLockName } from '../src/dialects/mysql.js'
import { splitStatements } from '../src/revisions/split.js'

const split = (sql: string) => splitStatements(sql, MYSQL_SYNTAX).map((s) => s.text)

describe('splitting MySQL', () => {
  it('reads # comments, backtick identifiers and backslash escapes', () => {
    expect(split("# a comment; not a statement\ncreate table `a;b` (x text default 'it\\'s; fine');\ninsert into `a;b` values (\"q\\\";\");")).toEqual([
      "create table `a;b` (x text default 'it\\'s; fine')",
      'insert into `a;b` values ("q\\";")',
    ])
  })

  it('keeps a trigger body whole, with nested blocks, IF … END IF, loops and labels', () => {
    const trigger = `create trigger t before insert on items for each row
begin
  declare n int default 0;
  declare continue handler for sqlstate '02000' begin set n = -1; end;
  if new.name is null then
    set new.name = 'x';
  elseif new.name = '' then
    set new.name = case when n > 0 then 'a' else 'b' end;
  end if;
  outer_loop: loop
    set n = n + 1;
    if n > 3 then leave outer_loop; end if;
  end loop outer_loop;
  repeat set n = n - 1; until n = 0 end repeat;
  while n < 2 do set n = n + 1; end while;
  begin
    set new.name = lower(new.name);
  end;
end`
    expect(split(`${trigger};\ncreate table after_it (x int);`)).toEqual([trigger, 'create table after_it (x int)'])
  })

  it('keeps procedure, function and DEFINER bodies whole', () => {
    const proc = 'create definer = `root`@`localhost` procedure p() begin select 1; select 2; end'
    const fn = 'create function f(x int) returns int deterministic begin declare y int; set y = x * 2; return y; end'
    expect(split(`${proc};\n${fn};\nselect f(1);`)).toEqual([proc, fn, 'select f(1)'])
  })
})

describe('MySQL statements', () => {
  it('knows which statements commit implicitly', () => {
    for (const s of ['create table a (x int)', 'alter table a add y int', 'drop index i on a', 'rename table a to b', 'truncate table a', 'create index i on a (x)', 'lock tables a write'])
      expect(implicitCommit(s), s).toBe(true)
    for (const s of ['insert into a values (1)', 'update a set x = 1', 'delete from a', 'create temporary table t (x int)', 'select 1', 'set @x = 1'])
      expect(implicitCommit(s), s).toBe(false)
  })

  it('names the lock by database and table, at most 64 characters', () => {
    expect(mysqlLockName('shop', 'boot_migrate_history')).toBe('boot-migrate:shop.boot_migrate_history')
    const long = mysqlLockName('a'.repeat(64), 'boot_migrate_history')
    expect(long).toHaveLength(64)
    expect(long).not.toBe(mysqlLockName('b'.repeat(64), 'boot_migrate_history'))
  })
})

describe('the names a DDL statement could touch (what the schema digest before it reads)', () => {
  it('lists words and backquoted identifiers as written and in lower case, so the digest reads only those objects', () => {
    const names = namesIn('ALTER TABLE `Order Items` ADD CONSTRAINT fk_o FOREIGN KEY (order_id) REFERENCES Orders (id)')!
    expect(names).toEqual(expect.arrayContaining(['Order Items', 'order items', 'fk_o', 'order_id', 'Orders', 'orders', 'id']))
    expect(namesIn('create table `a``b` (x int)')).toContain('a`b')
    expect(namesIn('create index zaehler_ix on zähler (wert)')).toEqual(expect.arrayContaining(['zaehler_ix', 'zähler', 'wert']))
  })

  it('gives up listing (the whole schema is read) for a statement naming too many things', () => {
    expect(namesIn(`create procedure p() begin ${Array.from({ length: 500 }, (_, i) => `set @v${i} = ${i};`).join(' ')} end`)).toBeUndefined()
  })
})
