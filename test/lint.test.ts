import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { lint, migrate, type LintFinding, type RevisionInput } from '../src/index.js'
import { client, freshDatabase, revisions, serverUrl } from './helpers.js'

/** The schema every case starts from: tables that exist before the revision under test. */
const SETUP = `create table orgs (id bigint primary key);
create table users (id bigint primary key, email varchar(50), name text, age int, org_id bigint);
create type mood as enum ('ok');
create table moods (m mood);`

/** Lints SETUP as revision 0001 and `up` (or several revisions) after it; returns what is found in those. */
async function findings(up: string | Array<Partial<RevisionInput> & { up: string }>, serverVersion: number | string = 17): Promise<Array<Pick<LintFinding, 'rule' | 'file' | 'line'>>> {
  const list = typeof up === 'string' ? [{ up }] : up
  const migrations: RevisionInput[] = [{ id: '0001', up: SETUP }, ...list.map((r, i) => ({ id: String(i + 2).padStart(4, '0'), ...r }))]
  const report = await lint({ migrations, serverVersion })
  return report.findings.map(({ rule, file, line }) => ({ rule, file, line }))
}
const at = (rule: string, line: number, revision = 1) => ({ rule, file: `migrations[${revision}]`, line })

describe('lint rules: each flags its statement and not its safe rewrite', () => {
  it('require-concurrent-index: CREATE INDEX on an existing table', async () => {
    expect(await findings('select 1;\ncreate index users_email on users (email);')).toEqual([at('require-concurrent-index', 2)])
    expect(await findings([{ up: 'create index concurrently users_email on users (email);', transaction: false }])).toEqual([])
  })

  it('require-concurrent-index: an index on a table created earlier in the same revision is not flagged', async () => {
    expect(await findings('create table events (id bigint, at timestamptz);\ncreate index events_at on events (at);')).toEqual([])
  })

  it('not-null-column-without-default: ADD COLUMN … NOT NULL with no default', async () => {
    expect(await findings('alter table users add column plan text not null;')).toEqual([at('not-null-column-without-default', 1)])
    expect(await findings("alter table users add column plan text not null default 'free';")).toEqual([])
  })

  it('column-default-rewrite: a volatile default on an existing table', async () => {
    expect(await findings('alter table users add column token uuid default gen_random_uuid();')).toEqual([at('column-default-rewrite', 1)])
    expect(await findings(['alter table users add column token uuid;', 'alter table users alter column token set default gen_random_uuid();'].map((up) => ({ up })))).toEqual([])
  })

  it('column-type-rewrite: ALTER COLUMN TYPE that rewrites, not a varchar widening or varchar to text', async () => {
    expect(await findings('alter table users alter column age type bigint;')).toEqual([at('column-type-rewrite', 1)])
    expect(await findings('alter table users alter column email type varchar(20);')).toEqual([at('column-type-rewrite', 1)])
    expect(await findings('alter table users alter column email type varchar(100);\nalter table users alter column email type text;')).toEqual([])
  })

  it('require-not-valid: a foreign key or check added without NOT VALID', async () => {
    expect(await findings('alter table users add constraint users_org_fk foreign key (org_id) references orgs (id);')).toEqual([at('require-not-valid', 1)])
    expect(await findings('alter table users add constraint age_positive check (age > 0);')).toEqual([at('require-not-valid', 1)])
    expect(
      await findings([
        { up: 'alter table users add constraint users_org_fk foreign key (org_id) references orgs (id) not valid;\nalter table users add constraint age_positive check (age > 0) not valid;' },
        { up: 'alter table users validate constraint users_org_fk;\nalter table users validate constraint age_positive;' },
      ]),
    ).toEqual([])
  })

  it('require-not-valid: VALIDATE in the same transaction as the NOT VALID add', async () => {
    expect(await findings('alter table users add constraint age_positive check (age > 0) not valid;\nalter table users validate constraint age_positive;')).toEqual([at('require-not-valid', 2)])
  })

  it('unique-constraint-without-index: ADD CONSTRAINT … UNIQUE without USING INDEX', async () => {
    expect(await findings('alter table users add constraint users_email_key unique (email);')).toEqual([at('unique-constraint-without-index', 1)])
    expect(
      await findings([
        { up: 'create unique index concurrently users_email_key on users (email);', transaction: false },
        { up: 'alter table users add constraint users_email_key unique using index users_email_key;' },
      ]),
    ).toEqual([])
  })

  it('set-not-null: SET NOT NULL without a validated CHECK (col IS NOT NULL) earlier', async () => {
    expect(await findings('alter table users alter column email set not null;')).toEqual([at('set-not-null', 1)])
    const safe = [
      { up: 'alter table users add constraint email_nn check (email is not null) not valid;' },
      { up: 'alter table users validate constraint email_nn;' },
      { up: 'alter table users alter column email set not null;\nalter table users drop constraint email_nn;' },
    ]
    expect(await findings(safe)).toEqual([])
  })

  it('drop-column, drop-table, rename-table, rename-column: flagged outside a contract revision, not in one', async () => {
    const up = 'alter table users drop column name;\nalter table users rename column email to mail;\nalter table users rename to members;\ndrop table orgs;'
    expect(await findings(up)).toEqual([at('drop-column', 1), at('rename-column', 2), at('rename-table', 3), at('drop-table', 4)])
    expect(await findings([{ up, phase: 'contract' }])).toEqual([])
  })

  it('drop-column and drop-table: what the same revision created is not flagged', async () => {
    expect(await findings('create table tmp (x int);\nalter table users add column scratch int;\nalter table users drop column scratch;\ndrop table tmp;')).toEqual([])
  })

  it('vacuum-full: VACUUM FULL, not plain VACUUM', async () => {
    expect(await findings([{ up: 'vacuum full users;', transaction: false }])).toEqual([at('vacuum-full', 1)])
    expect(await findings([{ up: 'vacuum (analyze) users;', transaction: false }])).toEqual([])
  })

  it('cluster: CLUSTER on an existing table, not on one the revision just created', async () => {
    expect(await findings('cluster users using users_pkey;')).toEqual([at('cluster', 1)])
    expect(await findings('create table log (id bigint primary key);\ncluster log using log_pkey;')).toEqual([])
  })

  it('enum-value-same-transaction: a value added by ALTER TYPE … ADD VALUE used in the same transaction', async () => {
    expect(await findings("alter type mood add value 'sad';\nupdate moods set m = 'sad';")).toEqual([at('enum-value-same-transaction', 2)])
    expect(await findings([{ up: "alter type mood add value 'sad';" }, { up: "update moods set m = 'sad';" }])).toEqual([])
  })
})

describe('lint: server versions', () => {
  it('a constant default rewrites the table before PostgreSQL 11 only', async () => {
    const up = "alter table users add column plan text default 'free';"
    expect(await findings(up, '10.23')).toEqual([at('column-default-rewrite', 1)])
    expect(await findings(up, 11)).toEqual([])
  })

  it('SET NOT NULL is flagged before PostgreSQL 12 even after a validated check', async () => {
    const safe = [{ up: 'alter table users add constraint email_nn check (email is not null) not valid;' }, { up: 'alter table users validate constraint email_nn;' }, { up: 'alter table users alter column email set not null;' }]
    expect(await findings(safe, 11)).toEqual([at('set-not-null', 1, 3)])
    expect(await findings(safe, 12)).toEqual([])
  })

  it('ALTER TYPE … ADD VALUE in a transaction is flagged before PostgreSQL 12', async () => {
    expect(await findings("alter type mood add value 'sad';", 11)).toEqual([at('enum-value-same-transaction', 1)])
    expect(await findings([{ up: "alter type mood add value 'sad';", transaction: false }], 11)).toEqual([])
  })

  it("reads the server's version from a URL when serverVersion is not given", async () => {
    const [{ v }] = await client(serverUrl())<[{ v: number }]>`select current_setting('server_version_num')::int / 10000 as v`
    expect((await lint({ migrations: [{ id: '0001', up: SETUP }], url: serverUrl() })).serverVersion).toBe(v)
    expect((await lint({ migrations: [{ id: '0001', up: SETUP }] })).serverVersion).toBe(17)
  })

  it('refuses a serverVersion that is not a version, with INVALID_OPTIONS', async () => {
    await expect(lint({ migrations: [], serverVersion: 'latest' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })

  it('refuses options without revisions, and a database that is not PostgreSQL, with INVALID_OPTIONS', async () => {
    await expect(lint({})).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('"dir" or "migrations"') })
    await expect(lint({ migrations: [], url: 'sqlite::memory:' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('for PostgreSQL') })
  })
})

describe('lint: suppression and files', () => {
  it('-- migrate:lint-ignore before a statement turns off the rules it names for that statement only', async () => {
    const up = '-- migrate:lint-ignore require-concurrent-index\ncreate index users_email on users (email);\ncreate index users_name on users (name);'
    expect(await findings(up)).toEqual([at('require-concurrent-index', 3)])
  })

  it('-- migrate:lint-ignore inside a statement, with two rules, leaves the other rules on', async () => {
    const up = 'alter table users\n  -- migrate:lint-ignore drop-column, rename-column\n  drop column name,\n  add column plan text not null;'
    expect(await findings(up)).toEqual([at('not-null-column-without-default', 1)])
  })

  it('reports the file and line of a folder revision, and the migrator runs a file with a lint-ignore line', async () => {
    const dir = await revisions({
      '0001_users.sql': `-- migrate:up\n${SETUP}\n`,
      '0002_index.sql': '-- migrate:up\n-- migrate:lint-ignore require-concurrent-index\ncreate index users_name on users (name);\n\ncreate index users_email on users (email);\n',
    })
    const report = await lint({ dir })
    expect(report.findings).toEqual([expect.objectContaining({ revision: '0002', file: join(dir, '0002_index.sql'), line: 5, rule: 'require-concurrent-index' })])
    expect(report.findings[0]!.why).toContain('SHARE lock')
    expect(report.findings[0]!.fix).toContain('CONCURRENTLY')
    const url = await freshDatabase()
    expect((await migrate({ url, dir, logger: false })).applied.map((a) => a.id)).toEqual(['0001', '0002'])
    expect(await client(url)`select indexname from pg_indexes where tablename = 'users' order by 1`).toEqual([{ indexname: 'users_email' }, { indexname: 'users_name' }, { indexname: 'users_pkey' }])
  })

  it('a plain SQL folder (no markers) with a lint-ignore line is read and linted', async () => {
    const dir = await revisions({ '0001_users.sql': SETUP, '0002_drop.sql': '-- migrate:lint-ignore drop-column\nalter table users drop column name;\n' })
    await writeFile(join(dir, '0003_rename.sql'), 'alter table users rename column email to mail;\n')
    expect((await lint({ dir })).findings.map((f) => [f.rule, f.line])).toEqual([['rename-column', 1]])
  })

  it('a statement the parser cannot read is a syntax-error finding, with its line', async () => {
    expect(await findings('select 1;\ncreate tabel x (id int);')).toEqual([at('syntax-error', 2)])
  })
})
