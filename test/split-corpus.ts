/**
 * Real statements that hold a `;` (or a word the splitter could mistake for a block) somewhere a
 * statement does not end, one per grammar form. Each list runs in order on an empty database, so
 * tests can prove every statement valid, and the splitter must give each back whole.
 */

/** PostgreSQL (14 or later: BEGIN ATOMIC, RETURN bodies). */
export const pgCorpus: string[] = [
  // Columns named like the keywords that open and close blocks.
  'create table events (id int primary key, trigger text, begin int, "end" int, "case" text, atomic int)',
  "insert into events (id, trigger, begin) values (1, 'on;insert', 2)",
  'select begin, trigger, atomic from events where begin > 0 order by begin',
  'update events set begin = begin + 1, trigger = \'x\' where trigger is not null',
  'create table "begin" (x int)',
  'create table log (id int, note text)',
  'create table counters (n int)',
  // Strings and identifiers holding semicolons, quotes and comment marks.
  'create table "semi;colon" ("a;b" int, "quote""d;" text)',
  "insert into \"semi;colon\" values (1, 'it''s; here -- not a comment /* nor this')",
  "select E'back\\'slash; \\\\', e'x\\\\', U&'\\0041;', N'n;', B'101', X'1F'",
  "select 'two'\n  ';lines'",
  'select 1 as "a""b;", 2 as x$y$, 3 as café',
  "select '{\"a\": \";\"}'::jsonb ->> 'a'",
  'create table "ünï;cødé" (ñ int)',
  'select U&"\\0041;" from (select 1 as "A;") as s',
  "select '*/ /*' as x /* it's \"q; */, 2 as y",
  'prepare q(int) as select $1 + 1',
  'execute q(1)',
  'deallocate q',
  // Comments holding semicolons; PostgreSQL comments nest.
  'select 1 /* a; /* nested; */ still; */ + 1',
  'select 2 -- trailing; comment\n  + 2',
  // Dollar quotes: anonymous, tagged, non-ASCII and digit tags, nested.
  "select $$dollar; 'quoted'$$, $tag$ holds $$ ; $tag$, $_1$;$_1$",
  'create function touch() returns trigger language plpgsql as $$\nbegin\n  new.begin := coalesce(new.begin, 0) + 1;\n  if new.trigger is null then new.trigger := \'t;\'; end if;\n  return new;\nend\n$$',
  'create function classify(n int) returns text language plpgsql as $função$\nbegin\n  case when n > 0 then return \'pos;\'; else return \'neg\'; end case;\nend;\n$função$',
  'create function loops() returns int language plpgsql as $body$\ndeclare\n  total int := 0;\nbegin\n  for i in 1..3 loop total := total + i; end loop;\n  begin\n    perform 1 / 0;\n  exception when division_by_zero then null;\n  end;\n  return total;\nend $body$',
  'do $outer$ begin execute $inner$ select 1; $inner$; end $outer$',
  "do $$ begin perform 1; raise notice 'a;b'; end $$",
  'do language plpgsql $do$ declare x int; begin x := 1; end $do$',
  // Single-quoted bodies.
  "create function add1(int) returns int language sql as 'select $1 + 1; '",
  "create function noted() returns void language sql as 'insert into log values (1, ''a;b''); update counters set n = n + 1'",
  "do 'begin perform 1; end'",
  // Procedures.
  "create procedure bump(x int) language plpgsql as $$ begin update counters set n = n + x; insert into log values (x, 'bump;'); end $$",
  'call bump(1)',
  "create procedure quoted_proc() language sql as 'insert into log values (2, ''p;''); update counters set n = 0'",
  'call quoted_proc()',
  // SQL-standard bodies.
  'create function atomic_one() returns int language sql begin atomic select 1; select case when true then 2 end; end',
  'create procedure atomic_proc(x int) language sql begin atomic insert into events (id) values (x); update events set begin = begin + 1 where id = x; end',
  'create function atomic_empty() returns void language sql begin atomic end',
  'create function atomic_ends(n int) returns text language sql begin atomic select case when n > 0 then \'end;\' else "end"::text end from events; end',
  "create function returns_semi() returns text language sql immutable return 'a;b'",
  // Rules with several actions.
  'create rule log_insert as on insert to events do also (insert into log values (new.id, \'rule;\'); update counters set n = n + 1)',
  'create rule no_update as on update to "begin" do instead nothing',
  // Triggers, one named begin.
  'create trigger begin before insert on events for each row execute function touch()',
  'create trigger begin_changed after update on events for each row when (old.begin is distinct from new.begin) execute function touch()',
  'create constraint trigger checked after insert on events deferrable initially deferred for each row execute function touch()',
  // CASE … END outside any body.
  'select case when begin = 1 then \'x;\' else \'y\' end as "end", case trigger when \'a\' then 1 end from events',
  "create view event_kinds as select id, case when begin > 1 then 'late;' end as kind from events",
  'with t as (select 1 as a) select * from t where a in (select 1)',
  "comment on table events is 'a; b'",
  "create type mood as enum ('sad', 'ok;')",
]

/** SQLite. */
export const sqliteCorpus: string[] = [
  'create table events (id integer primary key, trigger text, begin int, end int, "case" text, atomic int)',
  "insert into events (id, trigger, begin, end) values (1, 'on;insert', 2, 3)",
  'select begin, trigger, end from events where begin > 0 order by end',
  'update events set end = end + 1, begin = begin where trigger is not null',
  'create table log (id int, note text)',
  // Identifiers in all four quotings, strings holding semicolons and quotes.
  'create table [semi;colon] ("a;b" int, `c;d` text, [e"f;] int)',
  "insert into [semi;colon] values (1, 'it''s; here -- not /* a comment', 2)",
  "select 1 as [a;b], 'x;' as `c;d`, x'00ff' as \"e;f\"",
  // SQLite comments do not nest: the first */ ends one.
  'select 1 /* a; /* b; */ + 1',
  'select 2 -- trailing; comment\n  + 2',
  // Triggers: BEGIN … END bodies with CASE … END and columns named end/begin inside.
  "create trigger on_insert after insert on events begin update events set end = case when new.begin > 1 then 1 else 0 end where id = new.id; insert into log values (new.id, 'trigger; end'); end",
  "create temp trigger if not exists begin after delete on events begin select case when old.end is null then raise(abort, 'no;end') end; end",
  'create trigger guarded after update of begin, trigger on events when new.begin > 0 begin update events set end = end + 1 where id = new.id; end',
  "create view event_kinds as select id, case when begin > 1 then 'late;' end as kind from events",
  "create trigger kinds instead of insert on event_kinds begin insert into events (id, trigger) values (new.id, 'view;'); end",
  "create trigger cleanup after delete on events begin insert into log select id, 'a;' from events where end is null; delete from log where note = 'x;'; end",
  'select "a;b", `c;d` from [semi;colon]',
  'with recursive c(x) as (select 1 union all select x + 1 from c where x < 3) select * from c',
]
