import { objectsIn } from '../src/dialects/mysql-objects.js'
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

describe('the objects a DDL statement changes (what the digest before it reads with SHOW CREATE)', () => {
  const names = (sql: string) => objectsIn(sql)?.map((o) => `${o.kind} ${o.name.join('.')}`)
  it('finds the table, view, trigger or routine after its keyword, skipping IF [NOT] EXISTS', () => {
    expect(names('ALTER TABLE `Order Items` ADD CONSTRAINT fk_o FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE')).toEqual(['table Order Items'])
    expect(names('create table if not exists shop.orders (id int)')).toEqual(['table shop.orders'])
    expect(names('create unique index o_total on orders (total)')).toEqual(['table orders'])
    expect(names('drop table if exists a, `b``c`')).toEqual(['table a', 'table b`c'])
    expect(names('rename table a to b, c to d')).toEqual(['table a', 'table b', 'table c', 'table d'])
    expect(names('alter table a rename to b')).toEqual(['table a', 'table b'])
    expect(names('create or replace view v as select 1')).toEqual(['table v'])
    expect(names('create trigger tr before insert on orders for each row set new.x = 1')).toEqual(['trigger tr', 'table orders'])
    expect(names('drop procedure if exists p')).toEqual(['procedure p'])
  })

  it('ignores names in comments and strings, and finds none in a statement that changes no table (then nothing is digested)', () => {
    expect(names("alter table t /* table other */ comment 'table x'")).toEqual(['table t'])
    expect(objectsIn('create database shop')).toBeUndefined()
    expect(objectsIn("grant select on *.* to 'app'@'%'")).toBeUndefined()
  })
})
