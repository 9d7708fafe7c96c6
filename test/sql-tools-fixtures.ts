// Folders and histories of golang-migrate, goose and dbmate, for the takeover tests (issue 12).
//
// dbmate is real where it is installed (npm `dbmate`, binary from `@dbmate/linux-x64`): DBMATE_BIN, else
// this repo's node_modules (a devDependency). goose and golang-migrate ship as Go binaries only (no npm or
// Debian package here): their histories are written as the tools write them, following their source:
//   golang-migrate v4 database/postgres/postgres.go ensureVersionTable + SetVersion, database/sqlite3/sqlite3.go:
//     schema_migrations (version bigint not null primary key, dirty boolean not null), one row: the current version;
//   goose v3 internal/dialects/postgres.go / sqlite3.go CreateTable + InsertVersion, and EnsureDBVersion's first row (0, true):
//     goose_db_version (id, version_id, is_applied, tstamp), a row (version, true) per migration applied.
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { TestDatabase } from './contract/targets.js'

export type ToolName = 'golang-migrate' | 'dbmate' | 'goose'
export type Dialect = 'postgres' | 'sqlite' | 'mysql'

/** One migration as its author wrote it, rendered in each tool's layout. */
export interface Migration {
  version: string
  name: string
  up: string
  down: string
  /** goose: these statements are one (StatementBegin/End); the others tools get them as they are. */
  block?: string
  /** Statements after the block. */
  after?: string
}

/** Three migrations: a table, a seed that must never run twice, a second table with a trigger whose body holds semicolons. */
export function migrations(tool: ToolName, dialect: Dialect): Migration[] {
  const v =
    tool === 'golang-migrate' ? ['000001', '000002', '000003'] : tool === 'goose' ? ['00001', '00002', '00003'] : ['20240101000001', '20240101000002', '20240101000003']
  const id = dialect === 'postgres' ? 'serial primary key' : dialect === 'mysql' ? 'integer auto_increment primary key' : 'integer primary key'
  // MySQL indexes a TEXT column only by a prefix: the indexed name is a varchar there.
  const name = dialect === 'mysql' ? 'varchar(255)' : 'text'
  const trigger =
    dialect === 'mysql'
      ? `create trigger items_touch before insert on items for each row
begin
  set new.name = lower(new.name);
  insert into audit (what) values ('item');
end;`
      : dialect === 'postgres'
      ? `create function items_touch() returns trigger language plpgsql as $$
begin
  new.name := lower(new.name);
  return new;
end;
$$;`
      : `create trigger items_touch after insert on items
begin
  update items set name = lower(name) where id = new.id;
  insert into audit (what) values ('item');
end;`
  return [
    { version: v[0]!, name: 'create_users', up: `create table users (id ${id}, name ${name} not null);\ncreate index users_name on users (name);`, down: 'drop table users;' },
    { version: v[1]!, name: 'seed', up: "insert into users (name) values ('seed a');\ninsert into users (name) values ('seed b');", down: "delete from users where name like 'seed %';" },
    {
      version: v[2]!,
      name: 'create_items',
      up: `create table items (id ${id}, name text not null);\ncreate table audit (what text);`,
      block: trigger,
      ...(dialect === 'postgres' ? { after: 'create trigger items_touch before insert on items for each row execute function items_touch();' } : {}),
      down: `drop table items;\ndrop table audit;${dialect === 'postgres' ? '\ndrop function items_touch();' : ''}`,
    },
  ]
}

const upText = (m: Migration) => [m.up, m.block, m.after].filter(Boolean).join('\n')

/** The files of the first `n` migrations (all by default) in the tool's layout. */
export function files(tool: ToolName, list: Migration[], n = list.length): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of list.slice(0, n)) {
    if (tool === 'golang-migrate') {
      out[`${m.version}_${m.name}.up.sql`] = `${upText(m)}\n`
      out[`${m.version}_${m.name}.down.sql`] = `${m.down}\n`
    } else if (tool === 'dbmate') out[`${m.version}_${m.name}.sql`] = `-- migrate:up\n${upText(m)}\n\n-- migrate:down\n${m.down}\n`
    else
      out[`${m.version}_${m.name}.sql`] =
        `-- +goose Up\n${m.up}\n` + (m.block ? `-- +goose StatementBegin\n${m.block}\n-- +goose StatementEnd\n` : '') + (m.after ? `${m.after}\n` : '') + `\n-- +goose Down\n${m.down}\n`
  }
  return out
}

export async function folder(content: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-tool-'))
  for (const [name, text] of Object.entries(content)) await writeFile(join(dir, name), text)
  return dir
}

/** Each migration's up step as a file of its own, to apply by hand (psql -v ON_ERROR_STOP=1 -f). */
export async function upFiles(list: Migration[]): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-up-'))
  const out: string[] = []
  for (const m of list) {
    const path = join(dir, `${m.version}.sql`)
    await writeFile(path, `${upText(m)}\n`)
    out.push(path)
  }
  return out
}

export const historyTable = (tool: ToolName) => (tool === 'goose' ? 'goose_db_version' : 'schema_migrations')

export const dbmateBin = (() => {
  const candidates = [process.env.DBMATE_BIN, fileURLToPath(new URL('../node_modules/.bin/dbmate', import.meta.url))]
  return candidates.find((c) => c && existsSync(c) && spawnSync(c, ['--version']).status === 0)
})()

/** Runs the real dbmate on a database: `dbmate --url … --migrations-dir … <args>`. */
export function dbmate(db: TestDatabase, dir: string, ...args: string[]) {
  const url = !db.url.startsWith('postgres') ? db.url : `${db.url}${db.url.includes('?') ? '&' : '?'}sslmode=disable`
  const r = spawnSync(dbmateBin!, ['--url', url, '--migrations-dir', dir, '--no-dump-schema', ...args], { encoding: 'utf8' })
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` }
}

/**
 * The database as the tool leaves it after applying the first `n` migrations: the real dbmate where installed,
 * else each up file applied by hand and the tool's own history rows written as its source writes them.
 */
export async function toolApplied(tool: ToolName, dialect: Dialect, db: TestDatabase, list: Migration[], n: number): Promise<void> {
  if (tool === 'dbmate' && dbmateBin) {
    const r = dbmate(db, await folder(files('dbmate', list, n)), 'up')
    if (!r.ok) throw new Error(`dbmate up failed: ${r.out}`)
    return
  }
  for (const path of await upFiles(list.slice(0, n))) await db.applyFile(path)
  const pg = dialect === 'postgres'
  const my = dialect === 'mysql'
  const p = (i: number) => (pg ? `$${i}` : '?')
  const num = (v: string) => Number(v)
  if (tool === 'golang-migrate') {
    if (pg || my) await db.query('create table if not exists schema_migrations (version bigint not null primary key, dirty boolean not null)')
    else {
      await db.query('create table if not exists schema_migrations (version uint64,dirty bool)')
      await db.query('create unique index if not exists version_unique on schema_migrations (version)')
    }
    await db.query('delete from schema_migrations')
    if (n > 0) await db.query(`insert into schema_migrations (version, dirty) values (${p(1)}, ${pg ? 'false' : '0'})`, [num(list[n - 1]!.version)])
  } else if (tool === 'goose') {
    await db.query(
      my
        ? 'create table goose_db_version (id serial not null, version_id bigint not null, is_applied boolean not null, tstamp timestamp null default now(), primary key (id))'
        : pg
        ? 'create table goose_db_version (id integer primary key generated by default as identity, version_id bigint not null, is_applied boolean not null, tstamp timestamp not null default now())'
        : "create table goose_db_version (id integer primary key autoincrement, version_id integer not null, is_applied integer not null, tstamp timestamp default (datetime('now')))",
    )
    for (const v of [0, ...list.slice(0, n).map((m) => num(m.version))])
      await db.query(`insert into goose_db_version (version_id, is_applied) values (${p(1)}, ${pg ? 'true' : '1'})`, [v])
  } else {
    await db.query('create table if not exists schema_migrations (version varchar(128) primary key)')
    for (const m of list.slice(0, n)) await db.query(`insert into schema_migrations (version) values (${p(1)})`, [m.version])
  }
}

/** The tool's history as the tool itself reads it: golang-migrate's one version, goose's applied versions, dbmate's versions. */
export async function toolState(tool: ToolName, db: TestDatabase): Promise<string[]> {
  if (tool === 'golang-migrate') return (await db.query<{ version: number; dirty: unknown }>('select version, dirty from schema_migrations')).map((r) => `${r.version}${r.dirty === true || r.dirty === 1 ? ' dirty' : ''}`)
  if (tool === 'goose') {
    const rows = await db.query<{ version_id: number; is_applied: unknown }>('select version_id, is_applied from goose_db_version order by id desc')
    const latest = new Map<number, boolean>()
    for (const r of rows) if (!latest.has(Number(r.version_id))) latest.set(Number(r.version_id), r.is_applied === true || r.is_applied === 1)
    return [...latest].filter(([v, a]) => a && v !== 0).map(([v]) => String(v)).sort((a, b) => Number(a) - Number(b))
  }
  return (await db.query<{ version: string }>('select version from schema_migrations order by version')).map((r) => r.version)
}

/** What toolState says once the first `n` are applied. */
export const expectedState = (tool: ToolName, list: Migration[], n: number): string[] =>
  tool === 'golang-migrate' ? (n ? [String(Number(list[n - 1]!.version))] : []) : tool === 'goose' ? list.slice(0, n).map((m) => String(Number(m.version))) : list.slice(0, n).map((m) => m.version)
