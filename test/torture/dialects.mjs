// The 20-revision sets of the crash-torture suite and how each database is inspected.
// Every transactional revision appends its id to tx_log in the same transaction and leaves a schema or data
// effect that can be checked on its own; revision 0010 runs outside a transaction and logs 'start' and
// 'end' in nt_log around an index build with a slow step on either side, so that a kill can land between
// any two of its statements.
// keep, tx_log and nt_log exist before the first revision: keep holds the data that must never be lost.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'

const up = (body, { noTx = false } = {}) => `-- migrate:up\n${noTx ? '-- migrate:no-transaction\n' : ''}${body.trim()}\n`
const mark = (id) => `insert into tx_log (rev) values ('${id}');`
export const ids = Array.from({ length: 20 }, (_, i) => String(i + 1).padStart(4, '0'))
export const NO_TX = '0010'
const KEEP_ROWS = 3000

// ---------------------------------------------------------------------------------------------------------
const pgFiles = {
  '0001_accounts.sql': `create table accounts (id bigint primary key, email text not null);\n${mark('0001')}`,
  '0002_accounts_seed.sql': `insert into accounts select g, 'User' || g || '@Example.com' from generate_series(1, 5000) g;\n${mark('0002')}`,
  '0003_keep_note.sql': `alter table keep add column note text;\n${mark('0003')}`,
  '0004_keep_backfill.sql': `update keep set note = 'n' || id;\n${mark('0004')}`,
  '0005_orders.sql': `create table orders (id bigint generated always as identity primary key, account_id bigint not null references accounts (id), total numeric(12, 2) not null);\n${mark('0005')}`,
  '0006_orders_seed.sql': `insert into orders (account_id, total) select (g % 5000) + 1, g * 1.5 from generate_series(1, 20000) g;\n${mark('0006')}`,
  '0007_orders_index.sql': `create index orders_account on orders (account_id);\n${mark('0007')}`,
  '0008_status_type.sql': `create type order_status as enum ('new', 'paid', 'shipped');\n${mark('0008')}`,
  '0009_orders_status.sql': `alter table orders add column status order_status not null default 'new';\n${mark('0009')}`,
  '0010_keep_v_index.sql': [
    "insert into nt_log (step) values ('start');",
    'select pg_sleep(0.25);',
    'create index concurrently keep_v on keep (v);',
    'select pg_sleep(0.1);',
    "insert into nt_log (step) values ('end');",
  ].join('\n'),
  '0011_keep_v_not_null.sql': `alter table keep alter column v set not null;\n${mark('0011')}`,
  '0012_order_totals.sql': `create view order_totals as select account_id, sum(total) as total from orders group by account_id;\n${mark('0012')}`,
  '0013_account_total.sql': `create function account_total(a bigint) returns numeric language sql stable as $$ select coalesce(sum(total), 0) from orders where account_id = a $$;\n${mark('0013')}`,
  '0014_audit.sql': `create table audit (id bigserial primary key, at timestamptz not null default now(), what text not null);\n${mark('0014')}`,
  '0015_orders_audit.sql': `create function audit_orders() returns trigger language plpgsql as $$
begin
  insert into audit (what) values ('order ' || new.id);
  return new;
end
$$;
create trigger orders_audit after insert on orders for each row execute function audit_orders();
${mark('0015')}`,
  '0016_emails_lower.sql': `update accounts set email = lower(email);\n${mark('0016')}`,
  '0017_rename_email.sql': `alter table accounts rename column email to email_address;\n${mark('0017')}`,
  '0018_slow.sql': `select pg_sleep(0.2);\ncreate table slow_done (x int);\n${mark('0018')}`,
  '0019_keep_flag.sql': `comment on table keep is 'pre-existing';\nalter table keep add column flag boolean not null default false;\n${mark('0019')}`,
  '0020_final.sql': `create table final_marker (id int primary key);\ninsert into final_marker values (1);\n${mark('0020')}`,
}

export function postgresDialect(postgres) {
  const q = (sql, text, params) => sql.unsafe(text, params)
  return {
    name: 'postgres',
    files: Object.fromEntries(Object.entries(pgFiles).map(([f, body]) => [f, up(body, { noTx: f.startsWith(NO_TX) })])),
    /** A new database with the pre-existing tables; `sql` is the checker's connection to it. */
    async create(serverUrl, admin, trial) {
      const name = `bm_torture_${process.pid}_${trial}_${Math.random().toString(36).slice(2, 6)}`
      await admin.unsafe(`create database "${name}"`)
      const u = new URL(serverUrl)
      u.pathname = `/${name}`
      const url = u.toString()
      const sql = postgres(url, { max: 1, onnotice: () => undefined })
      await q(sql, `create table keep (id int primary key, v int)`)
      await q(sql, `insert into keep select g, g % 97 from generate_series(1, ${KEEP_ROWS}) g`)
      await q(sql, `create table tx_log (rev text not null)`)
      await q(sql, `create table nt_log (step text not null, at timestamptz not null default clock_timestamp())`)
      return {
        url,
        sql,
        options: { url },
        async drop() {
          await sql.end({ timeout: 1 })
          await admin.unsafe(`drop database if exists "${name}" with (force)`)
        },
      }
    },
    async fingerprint(db) {
      const [r] = await q(db.sql, `select count(*)::int as n, coalesce(sum(id), 0)::bigint::text as ids, coalesce(sum(v), 0)::bigint::text as vs from keep`)
      return `${r.n}/${r.ids}/${r.vs}`
    },
    /** Waits until no session but the checker's is connected: the killed migrators' backends have ended. */
    async settle(db, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const [r] = await q(db.sql, `select count(*)::int as n from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`)
        if (r.n === 0) return true
        if (Date.now() > until) return false
        await new Promise((res) => setTimeout(res, 50))
      }
    },
    /** Whether a session still holds an advisory lock in the database (every process has exited by now). */
    async lockHeld(db) {
      const [r] = await q(db.sql, `select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`)
      return r.n > 0 ? 'an advisory lock is held in the database' : null
    },
    /** Everything the invariants look at, in one snapshot. */
    async state(db) {
      const sql = db.sql
      const history = new Map()
      try {
        for (const r of await q(sql, `select id, state from boot_migrate_history`)) history.set(r.id, r.state)
      } catch (e) {
        if (e.code !== '42P01') throw e
      }
      const markers = new Map()
      for (const r of await q(sql, `select rev, count(*)::int as n from tx_log group by rev`)) markers.set(r.rev, r.n)
      const nt = { start: 0, end: 0 }
      for (const r of await q(sql, `select step, count(*)::int as n from nt_log group by step`)) nt[r.step] = r.n
      const [c] = await q(
        sql,
        `select
          to_regclass('public.accounts') is not null as accounts,
          exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = 'accounts' and column_name = 'email_address') as email_address,
          exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = 'keep' and column_name = 'note') as note,
          to_regclass('public.orders') is not null as orders,
          to_regclass('public.orders_account') is not null as orders_account,
          exists (select 1 from pg_type where typname = 'order_status') as order_status,
          exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = 'orders' and column_name = 'status') as status,
          (select attnotnull from pg_attribute where attrelid = 'public.keep'::regclass and attname = 'v') as v_not_null,
          to_regclass('public.order_totals') is not null as order_totals,
          exists (select 1 from pg_proc where proname = 'account_total') as account_total,
          to_regclass('public.audit') is not null as audit,
          exists (select 1 from pg_trigger where tgname = 'orders_audit') as orders_audit,
          to_regclass('public.slow_done') is not null as slow_done,
          exists (select 1 from information_schema.columns where table_schema = 'public' and table_name = 'keep' and column_name = 'flag') as flag,
          to_regclass('public.final_marker') is not null as final_marker,
          (select i.indisvalid from pg_index i where i.indexrelid = to_regclass('public.keep_v')) as keep_v`,
      )
      const count = async (text) => (await q(sql, text))[0].n
      const emailCol = c.email_address ? 'email_address' : 'email'
      const accounts = c.accounts ? await count(`select count(*)::int as n from accounts`) : 0
      const upper = c.accounts ? await count(`select count(*)::int as n from accounts where ${emailCol} <> lower(${emailCol})`) : 0
      const notes = c.note ? await count(`select count(note)::int as n from keep`) : 0
      const orders = c.orders ? await count(`select count(*)::int as n from orders`) : 0
      // true: applied; false: not applied; 'partial': neither (a violation in itself).
      const tri = (n, full) => (n === full ? true : n === 0 ? false : 'partial')
      const effects = new Map([
        ['0001', c.accounts],
        ['0002', tri(accounts, 5000)],
        ['0003', c.note],
        ['0004', tri(notes, KEEP_ROWS)],
        ['0005', c.orders],
        ['0006', tri(orders, 20000)],
        ['0007', c.orders_account],
        ['0008', c.order_status],
        ['0009', c.status],
        ['0011', c.v_not_null === true],
        ['0012', c.order_totals],
        ['0013', c.account_total],
        ['0014', c.audit],
        ['0015', c.orders_audit],
        // Seeded emails contain capitals until 0016 lowers them; with no accounts the revision cannot be judged.
        ['0016', accounts === 0 ? markers.has('0016') : upper === 0],
        ['0017', c.email_address],
        ['0018', c.slow_done],
        ['0019', c.flag],
        ['0020', c.final_marker],
      ])
      return { history, markers, nt, index: c.keep_v === null ? 'none' : c.keep_v ? 'valid' : 'invalid', effects }
    },
    /** What an operator does with a dirty 0010 after reading the DIRTY message. */
    async repair(db, s) {
      if (s.nt.end > 0 && s.index === 'valid') return 'applied'
      if (s.index === 'valid') {
        await q(db.sql, `insert into nt_log (step) values ('end')`)
        return 'applied'
      }
      if (s.index === 'invalid') await q(db.sql, `drop index concurrently keep_v`)
      await q(db.sql, `delete from nt_log`)
      return 'rolled-back'
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
const series = (n) => `with recursive g(x) as (select 1 union all select x + 1 from g where x < ${n})`
const sqliteFiles = {
  '0001_accounts.sql': `create table accounts (id integer primary key, email text not null);\n${mark('0001')}`,
  '0002_accounts_seed.sql': `${series(5000)} insert into accounts (id, email) select x, 'User' || x || '@Example.com' from g;\n${mark('0002')}`,
  '0003_keep_note.sql': `alter table keep add column note text;\n${mark('0003')}`,
  '0004_keep_backfill.sql': `update keep set note = 'n' || id;\n${mark('0004')}`,
  '0005_orders.sql': `create table orders (id integer primary key, account_id integer not null references accounts (id), total real not null);\n${mark('0005')}`,
  '0006_orders_seed.sql': `${series(20000)} insert into orders (account_id, total) select (x % 5000) + 1, x * 1.5 from g;\n${mark('0006')}`,
  '0007_orders_index.sql': `create index orders_account on orders (account_id);\n${mark('0007')}`,
  // A table rebuild of pre-existing data, the SQLite way (foreign keys off around it).
  '0008_keep_rebuild.sql': `PRAGMA foreign_keys = OFF;
create table keep_new (id integer primary key, v integer not null, note text);
insert into keep_new (id, v, note) select id, v, note from keep;
drop table keep;
alter table keep_new rename to keep;
PRAGMA foreign_keys = ON;
${mark('0008')}`,
  '0009_orders_status.sql': `alter table orders add column status text not null default 'new';\n${mark('0009')}`,
  '0010_keep_v_index.sql': [
    "insert into nt_log (step) values ('start');",
    // A slow statement with no effect, so that a kill can land between the two logged steps.
    `${series(1200000)} select count(*) from g;`,
    'create index keep_v on keep (v);',
    `${series(500000)} select count(*) from g;`,
    "insert into nt_log (step) values ('end');",
  ].join('\n'),
  '0011_statuses.sql': `create table statuses (name text primary key);\ninsert into statuses values ('new'), ('paid'), ('shipped');\n${mark('0011')}`,
  '0012_order_totals.sql': `create view order_totals as select account_id, sum(total) as total from orders group by account_id;\n${mark('0012')}`,
  '0013_orders_paid.sql': `create index orders_status on orders (status);\n${mark('0013')}`,
  '0014_audit.sql': `create table audit (id integer primary key, at text not null default (datetime('now')), what text not null);\n${mark('0014')}`,
  '0015_orders_audit.sql': `create trigger orders_audit after insert on orders begin
  insert into audit (what) values ('order ' || new.id);
end;
${mark('0015')}`,
  '0016_emails_lower.sql': `update accounts set email = lower(email);\n${mark('0016')}`,
  '0017_rename_email.sql': `alter table accounts rename column email to email_address;\n${mark('0017')}`,
  '0018_slow.sql': `create table slow_done (n integer);\n${series(1200000)} insert into slow_done select count(*) from g;\n${mark('0018')}`,
  '0019_keep_flag.sql': `alter table keep add column flag integer not null default 0;\n${mark('0019')}`,
  '0020_final.sql': `create table final_marker (id integer primary key);\ninsert into final_marker values (1);\n${mark('0020')}`,
}

export function sqliteDialect(Database) {
  const withDb = (file, fn) => {
    const db = new Database(file, { timeout: 10_000 })
    try {
      return fn(db)
    } finally {
      db.close()
    }
  }
  return {
    name: 'sqlite',
    files: Object.fromEntries(Object.entries(sqliteFiles).map(([f, body]) => [f, up(body, { noTx: f.startsWith(NO_TX) })])),
    async create(_serverUrl, _admin, trial, scratch) {
      const dir = join(scratch, `trial-${trial}`)
      mkdirSync(dir, { recursive: true })
      const file = join(dir, 'app.db')
      withDb(file, (db) => {
        db.exec(`create table keep (id integer primary key, v integer);
          ${series(KEEP_ROWS)} insert into keep (id, v) select x, x % 97 from g;
          create table tx_log (rev text not null);
          create table nt_log (step text not null);`)
      })
      return { file, options: { url: `sqlite:${file}`, lockStale: 2000 }, async drop() {} }
    },
    async fingerprint(db) {
      return withDb(db.file, (d) => {
        const r = d.prepare('select count(*) as n, coalesce(sum(id), 0) as ids, coalesce(sum(v), 0) as vs from keep').get()
        return `${r.n}/${r.ids}/${r.vs}`
      })
    },
    // A killed process leaves nothing running; its hot journal is rolled back by the next connection.
    async settle() {
      return true
    },
    /**
     * A lock folder left behind is a violation unless a killed process left it: SQLite locks are released by
     * going stale (the next process that needs the lock takes it over after lockStale). A folder owned by a
     * process that exited normally, or by nobody while no process was killed, is a lock that was not released.
     */
    async lockHeld(db, killedPids) {
      const dir = `${db.file}.lock`
      if (!existsSync(dir)) return null
      let owner
      try {
        owner = JSON.parse(readFileSync(join(dir, 'owner'), 'utf8'))
      } catch {}
      if (owner ? killedPids.includes(owner.pid) : killedPids.length > 0) return { leftByKilled: true }
      return `the lock folder ${dir} is left behind by ${owner ? `pid ${owner.pid}, which was not killed` : 'an unknown owner while no process was killed'}`
    },
    async state(db) {
      return withDb(db.file, (d) => {
        const has = (type, name) => !!d.prepare('select 1 from sqlite_master where type = ? and name = ?').get(type, name)
        const column = (table, col) => !!d.prepare('select 1 from pragma_table_info(?) where name = ?').get(table, col)
        const history = new Map()
        if (has('table', 'boot_migrate_history')) for (const r of d.prepare('select id, state from boot_migrate_history').all()) history.set(r.id, r.state)
        const markers = new Map(d.prepare('select rev, count(*) as n from tx_log group by rev').all().map((r) => [r.rev, r.n]))
        const nt = { start: 0, end: 0 }
        for (const r of d.prepare('select step, count(*) as n from nt_log group by step').all()) nt[r.step] = r.n
        const count = (text) => d.prepare(text).get().n
        const emailCol = column('accounts', 'email_address') ? 'email_address' : 'email'
        const accounts = has('table', 'accounts') ? count('select count(*) as n from accounts') : 0
        const upper = accounts ? count(`select count(*) as n from accounts where ${emailCol} <> lower(${emailCol})`) : 0
        const notes = column('keep', 'note') ? count('select count(note) as n from keep') : 0
        const orders = has('table', 'orders') ? count('select count(*) as n from orders') : 0
        const tri = (n, full) => (n === full ? true : n === 0 ? false : 'partial')
        const vNotNull = d.prepare(`select "notnull" as nn from pragma_table_info('keep') where name = 'v'`).get()?.nn === 1
        const effects = new Map([
          ['0001', has('table', 'accounts')],
          ['0002', tri(accounts, 5000)],
          ['0003', column('keep', 'note')],
          ['0004', tri(notes, KEEP_ROWS)],
          ['0005', has('table', 'orders')],
          ['0006', tri(orders, 20000)],
          ['0007', has('index', 'orders_account')],
          ['0008', vNotNull],
          ['0009', column('orders', 'status')],
          ['0011', has('table', 'statuses')],
          ['0012', has('view', 'order_totals')],
          ['0013', has('index', 'orders_status')],
          ['0014', has('table', 'audit')],
          ['0015', has('trigger', 'orders_audit')],
          ['0016', accounts === 0 ? markers.has('0016') : upper === 0],
          ['0017', column('accounts', 'email_address')],
          ['0018', has('table', 'slow_done')],
          ['0019', column('keep', 'flag')],
          ['0020', has('table', 'final_marker')],
        ])
        // SQLite has no invalid indexes: a CREATE INDEX is atomic.
        return { history, markers, nt, index: has('index', 'keep_v') ? 'valid' : 'none', effects }
      })
    },
    async repair(db, s) {
      if (s.index === 'valid') {
        if (!s.nt.end) withDb(db.file, (d) => d.exec(`insert into nt_log (step) values ('end')`))
        return 'applied'
      }
      withDb(db.file, (d) => d.exec('delete from nt_log'))
      return 'rolled-back'
    },
  }
}

// ---------------------------------------------------------------------------------------------------------
// MySQL / MariaDB. DDL commits implicitly, so a revision with DDL runs statement by statement outside a
// transaction (a `running` history row, one progress record per completed statement); only a revision of
// DML alone runs in one transaction with its history row. Every statement of a DDL revision has an effect
// of its own that `state` probes (the slow `do sleep()` steps excepted), so the progress records can be
// compared with the schema statement by statement.
const digits = 'with d(n) as (select 0 union all select 1 union all select 2 union all select 3 union all select 4 union all select 5 union all select 6 union all select 7 union all select 8 union all select 9)'
const seq = (n) => `${digits} select a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n + 1 as x from d a, d b, d c, d e, d f where a.n + 10 * b.n + 100 * c.n + 1000 * e.n + 10000 * f.n < ${n}`
/** Per revision: its statements (joined into the file) and, for a DDL revision, a probe of each statement's effect. */
const myRevs = {
  '0001_accounts.sql': ['create table accounts (id bigint primary key, email varchar(255) not null);', mark('0001')],
  '0002_accounts_seed.sql': [`insert into accounts (id, email) select x, concat('User', x, '@Example.com') from (${seq(5000)}) s;`, mark('0002')],
  '0003_keep_note.sql': ['alter table keep add column note varchar(32);', mark('0003')],
  '0004_keep_backfill.sql': ["update keep set note = concat('n', id);", mark('0004')],
  '0005_orders.sql': ['create table orders (id bigint auto_increment primary key, account_id bigint not null, total decimal(12, 2) not null, constraint orders_account_fk foreign key (account_id) references accounts (id));', mark('0005')],
  '0006_orders_seed.sql': [`insert into orders (account_id, total) select (x % 5000) + 1, x * 1.5 from (${seq(20000)}) s;`, mark('0006')],
  '0007_orders_index.sql': ['create index orders_total on orders (total);', mark('0007')],
  '0008_statuses.sql': [
    'create table statuses (name varchar(16) primary key);',
    "insert into statuses values ('new'), ('paid'), ('shipped');",
    "alter table orders add column status varchar(16) not null default 'new';",
    'alter table orders add constraint orders_status_fk foreign key (status) references statuses (name);',
    mark('0008'),
  ],
  '0009_orders_paid.sql': ["update orders set status = 'paid' where id % 2 = 0;", mark('0009')],
  '0010_keep_v_index.sql': ["insert into nt_log (step) values ('start');", 'do sleep(0.25);', 'create index keep_v on keep (v);', 'do sleep(0.1);', "insert into nt_log (step) values ('end');"],
  '0011_keep_v_not_null.sql': ['alter table keep modify v int not null;', mark('0011')],
  '0012_order_totals.sql': ['create view order_totals as select account_id, sum(total) as total from orders group by account_id;', mark('0012')],
  '0013_audit.sql': ['create table audit (id bigint auto_increment primary key, at datetime(6) not null default current_timestamp(6), what varchar(64) not null);', mark('0013')],
  '0014_orders_audit.sql': ["create trigger orders_audit after insert on orders for each row insert into audit (what) values (concat('order ', new.id));", mark('0014')],
  '0015_emails_lower.sql': ['update accounts set email = lower(email);', mark('0015')],
  '0016_rename_email.sql': ['alter table accounts rename column email to email_address;', mark('0016')],
  '0017_slow.sql': ['do sleep(0.2);', "insert into audit (what) values ('slow');", mark('0017')],
  '0018_slow_done.sql': ['create table slow_done (n int);', 'insert into slow_done select count(*) from orders;', mark('0018')],
  '0019_keep_flag.sql': ['alter table keep add column flag tinyint not null default 0;', mark('0019')],
  '0020_final.sql': ['create table final_marker (id int primary key);', 'insert into final_marker values (1);', mark('0020')],
}
const DDL = /^(create|alter|drop|rename|truncate)\b/i
/** The revisions that run statement by statement on MySQL: those with DDL (0010 among them). */
export const MYSQL_STEPPED = Object.entries(myRevs)
  .filter(([, sts]) => sts.some((s) => DDL.test(s)))
  .map(([f]) => f.slice(0, 4))

/** The name GET_LOCK takes (src/dialects/mysql.ts: mysqlLockName). */
const myLockName = (database, table = 'boot_migrate_history') => {
  const name = `boot-migrate:${database}.${table}`
  return name.length <= 64 ? name : `boot-migrate:${createHash('sha256').update(name).digest('hex').slice(0, 51)}`
}

/** The pid of the process among `pids` whose TCP socket has local port `port` (Linux /proc). */
function ownerOfPort(port, pids) {
  const inodes = new Set()
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(f, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length > 9 && parseInt(cols[1].split(':').pop(), 16) === port) inodes.add(cols[9])
    }
  }
  for (const pid of pids) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`))
        if (m && inodes.has(m[1])) return pid
      }
    } catch {}
  }
  return undefined
}
const readlinkSafe = (p) => {
  try {
    return readlinkSync(p)
  } catch {
    return ''
  }
}

export function mysqlDialect(mysql) {
  const files = Object.fromEntries(
    Object.entries(myRevs).map(([f, sts]) => [f, up(sts.join('\n'), { noTx: f.startsWith(NO_TX) })]),
  )
  return {
    name: 'mysql',
    files,
    stepped: MYSQL_STEPPED,
    /** The statements of each revision, for the operator's hand repair. */
    statements: Object.fromEntries(Object.entries(myRevs).map(([f, sts]) => [f.slice(0, 4), sts])),
    async create(serverUrl, admin, trial) {
      const name = `bm_t${process.pid}_${trial}_${Math.random().toString(36).slice(2, 6)}`
      await admin.query(`create database \`${name}\``)
      const u = new URL(serverUrl)
      u.pathname = `/${name}`
      const url = u.toString()
      const sql = await mysql.createConnection({ uri: url })
      sql.on('error', () => undefined)
      await sql.query('create table keep (id int primary key, v int) engine=innodb')
      await sql.query(`insert into keep (id, v) select x, x % 97 from (${seq(KEEP_ROWS)}) s`)
      await sql.query('create table tx_log (rev varchar(8) not null)')
      await sql.query('create table nt_log (step varchar(8) not null, at datetime(6) not null default current_timestamp(6))')
      const [[me]] = await sql.query('select connection_id() as id')
      return {
        url,
        sql,
        name,
        self: Number(me.id),
        options: { url },
        async drop() {
          await sql.end().catch(() => sql.destroy())
          await admin.query(`drop database if exists \`${name}\``)
        },
      }
    },
    async fingerprint(db) {
      const [[r]] = await db.sql.query('select count(*) as n, coalesce(sum(id), 0) as ids, coalesce(sum(v), 0) as vs from keep')
      return `${Number(r.n)}/${r.ids}/${r.vs}`
    },
    /** Waits until no session but the checker's is in the database: the killed migrators' sessions have ended. */
    async settle(db, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const [[r]] = await db.sql.query('select count(*) as n from information_schema.processlist where db = database() and id <> connection_id()')
        if (Number(r.n) === 0) return true
        if (Date.now() > until) return false
        await new Promise((res) => setTimeout(res, 50))
      }
    },
    async lockHeld(db) {
      const [[r]] = await db.sql.query('select is_used_lock(?) as id', [myLockName(db.name)])
      return r.id === null ? null : `the GET_LOCK lock is held by connection ${r.id}`
    },
    /**
     * KILL CONNECTION of one boot-migrate session in the trial's database: a random one (`u` picks it), or the
     * migration connection of process `target` (the GET_LOCK holder, when it is that process's). The owner of a
     * session is found by its client port. Returns a row shaped as PostgreSQL's terminateOne.
     */
    async terminate(db, u, target, procs) {
      const [rows] = await db.sql.query(
        `select id, host, command, state, left(coalesce(info, ''), 80) as query from information_schema.processlist where db = ? and id <> connection_id() order by id`,
        [db.name],
      )
      const pids = procs.filter((p) => p.alive()).map((p) => p.pid)
      const ownerOf = (r) => ownerOfPort(Number(String(r.host).split(':').pop()), pids)
      let pick
      if (target) {
        const [[h]] = await db.sql.query('select is_used_lock(?) as id', [myLockName(db.name)])
        pick = rows.find((r) => Number(r.id) === Number(h.id) && ownerOf(r) === target.pid)
      } else pick = rows[Math.floor(u * rows.length)]
      if (!pick) return undefined
      const owner = ownerOf(pick)
      let ok = true
      try {
        await db.sql.query(`kill connection ${Number(pick.id)}`)
      } catch (e) {
        // 1094: no such thread (it ended in the meantime).
        if (e.errno !== 1094) throw e
        ok = false
      }
      return { pid: Number(pick.id), application_name: `boot-migrate:${owner ?? '?'}`, state: `${pick.command}${pick.state ? `/${pick.state}` : ''}`, query: pick.query, n: rows.length, ok }
    },
    async state(db) {
      const q = async (text, params) => (await db.sql.query(text, params))[0]
      const history = new Map()
      try {
        for (const r of await q('select id, state from boot_migrate_history')) history.set(String(r.id), r.state)
      } catch (e) {
        if (e.errno !== 1146) throw e
      }
      const recorded = new Map()
      try {
        // A last row with before_schema was written before its statement ran (DDL on a server where it is atomic): that
        // statement may or may not have completed, and the schema says which; the rows before it are completed statements.
        for (const r of await q('select id, step, before_schema from boot_migrate_history_progress where step > 0 order by id, step')) {
          const x = recorded.get(String(r.id)) ?? { rows: 0, started: false }
          recorded.set(String(r.id), { rows: x.rows + 1, started: r.before_schema !== null })
        }
      } catch (e) {
        if (e.errno !== 1146) throw e
      }
      const markers = new Map()
      for (const r of await q('select rev, count(*) as n from tx_log group by rev')) markers.set(r.rev, Number(r.n))
      const nt = { start: 0, end: 0 }
      for (const r of await q('select step, count(*) as n from nt_log group by step')) nt[r.step] = Number(r.n)
      const tables = new Set((await q(`select table_name as t from information_schema.tables where table_schema = database()`)).map((r) => r.t))
      const columns = new Set((await q(`select concat(table_name, '.', column_name) as c from information_schema.columns where table_schema = database()`)).map((r) => r.c))
      const indexes = new Set((await q(`select distinct concat(table_name, '.', index_name) as i from information_schema.statistics where table_schema = database()`)).map((r) => r.i))
      const fks = new Set((await q(`select constraint_name as c from information_schema.table_constraints where table_schema = database() and constraint_type = 'FOREIGN KEY'`)).map((r) => r.c))
      const triggers = new Set((await q(`select trigger_name as t from information_schema.triggers where trigger_schema = database()`)).map((r) => r.t))
      const [vcol] = await q(`select is_nullable as n from information_schema.columns where table_schema = database() and table_name = 'keep' and column_name = 'v'`)
      const count = async (text) => Number((await q(text))[0].n)
      const emailCol = columns.has('accounts.email_address') ? 'email_address' : 'email'
      const accounts = tables.has('accounts') ? await count('select count(*) as n from accounts') : 0
      const upper = accounts ? await count(`select count(*) as n from accounts where cast(${emailCol} as binary) <> cast(lower(${emailCol}) as binary)`) : 0
      const notes = columns.has('keep.note') ? await count('select count(note) as n from keep') : 0
      const orders = tables.has('orders') ? await count('select count(*) as n from orders') : 0
      const paid = columns.has('orders.status') ? await count(`select count(*) as n from orders where status = 'paid'`) : 0
      const statuses = tables.has('statuses') ? await count('select count(*) as n from statuses') : 0
      const slowAudit = tables.has('audit') ? await count(`select count(*) as n from audit where what = 'slow'`) : 0
      const slowDone = tables.has('slow_done') ? await count('select count(*) as n from slow_done') : 0
      const finals = tables.has('final_marker') ? await count('select count(*) as n from final_marker') : 0
      const tri = (n, full) => (n === full ? true : n === 0 ? false : 'partial')
      const once = (n) => (n === 1 ? true : n === 0 ? false : `${n}×`)
      const m = (id) => once(markers.get(id) ?? 0)
      // The effect of each statement of the DDL revisions (null: a statement with no effect to look at).
      const stepEffects = new Map([
        ['0001', [tables.has('accounts'), m('0001')]],
        ['0003', [columns.has('keep.note'), m('0003')]],
        ['0005', [tables.has('orders'), m('0005')]],
        ['0007', [indexes.has('orders.orders_total'), m('0007')]],
        ['0008', [tables.has('statuses'), tri(statuses, 3), columns.has('orders.status'), fks.has('orders_status_fk'), m('0008')]],
        ['0010', [once(nt.start), null, indexes.has('keep.keep_v'), null, once(nt.end)]],
        ['0011', [vcol?.n === 'NO', m('0011')]],
        ['0012', [tables.has('order_totals'), m('0012')]],
        ['0013', [tables.has('audit'), m('0013')]],
        ['0014', [triggers.has('orders_audit'), m('0014')]],
        ['0016', [columns.has('accounts.email_address'), m('0016')]],
        ['0018', [tables.has('slow_done'), once(slowDone)]],
        ['0019', [columns.has('keep.flag'), m('0019')]],
        ['0020', [tables.has('final_marker'), once(finals), m('0020')]],
      ])
      const steps = new Map(
        [...stepEffects].map(([id, effects]) => {
          const r = recorded.get(id) ?? { rows: 0, started: false }
          return [id, { effects, rows: r.rows, recorded: r.rows - (r.started ? 1 : 0), started: r.started }]
        }),
      )
      // The DML-only revisions, checked as transactional ones are everywhere.
      const effects = new Map([
        ['0002', tri(accounts, 5000)],
        ['0004', tri(notes, KEEP_ROWS)],
        ['0006', tri(orders, 20000)],
        ['0009', tri(paid, 10000)],
        ['0015', accounts === 0 ? markers.has('0015') : upper === 0],
        ['0017', tri(slowAudit, 1)],
      ])
      for (const [id, st] of steps) effects.set(id, st.effects.every((e) => e === true || e === null))
      return { history, markers, nt, index: indexes.has('keep.keep_v') ? 'valid' : 'none', effects, steps }
    },
    /**
     * By hand, what an operator does when `resolve --resume` could not finish a dirty revision: run the
     * statements whose effects are absent, then resolve it applied.
     */
    async completeByHand(db, s, id) {
      const sts = this.statements[id]
      const { effects } = s.steps.get(id)
      for (const [i, text] of sts.entries()) if (effects[i] === false) await db.sql.query(text)
      return 'applied'
    },
  }
}
