// Supabase CLI projects and histories. The histories are made by the real CLI (npm `supabase`, which ships its binary
// in a platform package) when it is found: $SUPABASE_BIN, this repo's node_modules (a devDependency pinned to 2.117.0, the release whose platform builds the registry serves), or
// `supabase` on the PATH (SUPABASE_BIN=none: never). Without it they follow the CLI's documented behaviour (https://supabase.com/docs/reference/cli/supabase-migration-up,
// pkg/migration/history.go and file.go in supabase/cli: the table, one row per file with its version, name and
// statements, written in the batch that runs the file), and the suite prints that it used this stand-in.
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { splitStatements } from '../src/revisions/split.js'
import type { TestDatabase } from './contract/targets.js'

export const SUPABASE_FILES: Record<string, string> = {
  '20240101000000_init.sql': `-- Profiles and settings
create table public.profiles (
  id uuid primary key default gen_random_uuid(),
  name text not null
);

create table public.settings (key text not null, value text not null);

create function public.touch() returns trigger language plpgsql as $$
begin
  new.name := trim(new.name); -- tidy
  return new;
end $$;
`,
  '20240102000000_seed.sql': `insert into public.settings (key, value) values ('plan', 'free');
insert into public.settings (key, value) values ('theme', 'dark');
`,
  '20240103000000_rls.sql': `alter table public.profiles enable row level security;

create policy "profiles are readable" on public.profiles for select using (true);

create trigger profiles_touch before insert or update on public.profiles for each row execute function public.touch();
`,
  // Supabase users wrap a migration in begin/commit; the CLI sends it as written.
  '20240104000000_index.sql': `begin;
create index profiles_name on public.profiles (name);
insert into public.settings (key, value) values ('indexed', 'yes');
commit;
`,
}
export const SUPABASE_IDS = Object.keys(SUPABASE_FILES).map((f) => f.slice(0, 14))

/** A Supabase project (`supabase init` layout) with the first `count` migrations; returns the project and its migrations folder. */
export async function supabaseProject(count = SUPABASE_IDS.length): Promise<{ project: string; dir: string }> {
  const project = await mkdtemp(join(tmpdir(), 'boot-migrate-supabase-'))
  const dir = join(project, 'supabase', 'migrations')
  await mkdir(dir, { recursive: true })
  await writeFile(join(project, 'supabase', 'config.toml'), 'project_id = "boot-migrate-test"\n')
  for (const name of Object.keys(SUPABASE_FILES).slice(0, count)) await writeFile(join(dir, name), SUPABASE_FILES[name]!)
  return { project, dir }
}

/** A copy of the project with only its first `count` migrations. */
export async function supabaseTruncated(project: string, count: number): Promise<{ project: string; dir: string }> {
  const copy = await mkdtemp(join(tmpdir(), 'boot-migrate-supabase-'))
  await cp(project, copy, { recursive: true })
  const dir = join(copy, 'supabase', 'migrations')
  for (const n of (await readdir(dir)).sort().slice(count)) await rm(join(dir, n))
  return { project: copy, dir }
}

// SUPABASE_BIN=none: use the stand-in even where the CLI is installed.
const found = process.env.SUPABASE_BIN === 'none' ? undefined : [process.env.SUPABASE_BIN, fileURLToPath(new URL('../node_modules/.bin/supabase', import.meta.url)), 'supabase'].find(
  (bin) => bin && (bin.includes('/') ? existsSync(bin) : true) && spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 }).status === 0,
)
/** The real CLI's path, or undefined. */
export const supabaseBin: string | undefined = found
if (!found) console.log('supabase CLI not found ($SUPABASE_BIN, node_modules, PATH): Supabase histories are made by a stand-in that follows its documentation')

const dbUrl = (url: string) => `${url}${url.includes('?') ? '&' : '?'}sslmode=disable`

/** `supabase <args> --workdir <project> --db-url <url>`; throws with its output when it fails. */
export function supabaseCli(args: string[], project: string, db: TestDatabase): string {
  const r = spawnSync(supabaseBin!, [...args, '--workdir', project, '--db-url', dbUrl(db.url)], { encoding: 'utf8', timeout: 120_000 })
  const out = `${r.stdout}${r.stderr}`
  if (r.status !== 0) throw new Error(`supabase ${args.join(' ')} failed (${r.status}): ${out}`)
  return out
}

/** `supabase migration up`: applies the files the history lacks, each with its row. Returns what it printed. */
export async function supabaseUp(project: string, db: TestDatabase): Promise<string> {
  if (supabaseBin) return supabaseCli(['migration', 'up'], project, db)
  await db.exec(`create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
    alter table supabase_migrations.schema_migrations add column if not exists statements text[];
    alter table supabase_migrations.schema_migrations add column if not exists name text;`)
  const have = new Set((await db.query<{ version: string }>('select version from supabase_migrations.schema_migrations')).map((r) => r.version))
  const dir = join(project, 'supabase', 'migrations')
  const out: string[] = []
  for (const f of (await readdir(dir)).sort()) {
    const [, version, name] = /^(\d+)_(.*)\.sql$/.exec(f)!
    if (have.has(version!)) continue
    const text = await readFile(join(dir, f), 'utf8')
    await db.applyFile(join(dir, f))
    const statements = splitStatements(text, { dollarQuotes: true, brackets: false, nestedComments: true }).map((s) => s.text)
    await db.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, array(select json_array_elements_text($3::text::json)))', [
      version,
      name,
      JSON.stringify(statements),
    ])
    out.push(`Applying migration ${f}...`)
  }
  return [...out, 'Local database is up to date.'].join('\n')
}

/** `supabase migration repair --status applied|reverted <version>`. */
export async function supabaseRepair(project: string, db: TestDatabase, status: 'applied' | 'reverted', version: string) {
  if (supabaseBin) return void supabaseCli(['migration', 'repair', '--status', status, version], project, db)
  if (status === 'reverted') await db.query('delete from supabase_migrations.schema_migrations where version = $1', [version])
  else {
    const dir = join(project, 'supabase', 'migrations')
    const f = (await readdir(dir)).find((n) => n.startsWith(`${version}_`))!
    const statements = splitStatements(await readFile(join(dir, f), 'utf8'), { dollarQuotes: true, brackets: false, nestedComments: true }).map((s) => s.text)
    await db.query('insert into supabase_migrations.schema_migrations (version, name, statements) values ($1, $2, array(select json_array_elements_text($3::text::json)))', [
      version,
      f.slice(15, -4),
      JSON.stringify(statements),
    ])
  }
}
