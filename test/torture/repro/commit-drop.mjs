// Reproduction, one run, deterministic: the migration backend is terminated (only the repro's own database)
//   commit:          while it executes the COMMIT of a transactional revision (a deferred constraint trigger sleeps
//                    3 s at COMMIT, so the COMMIT is in flight long enough to be hit);
//   create-history:  while its CREATE TABLE IF NOT EXISTS of the history table waits on another session's
//                    uncommitted CREATE TABLE of the same name (the first run's history creation, under the lock).
// Prints how the worker ended (and how long it took), the history and the table the revisions fill.
// usage: node test/torture/repro/commit-drop.mjs [commit|create-history]   (BOOT_MIGRATE_ENTRY=<build>/index.js)
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { fileURLToPath } from 'node:url'

const worker = fileURLToPath(new URL('../worker.mjs', import.meta.url))

const mode = process.argv[2] ?? 'commit'
const server = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const admin = postgres(server, { max: 1, onnotice: () => {} })
const name = `bm_repro_${Date.now()}`
await admin.unsafe(`create database "${name}"`)
const u = new URL(server); u.pathname = `/${name}`
const url = u.toString()
const sql = postgres(url, { max: 2, onnotice: () => {} })
const dir = mkdtempSync(join(tmpdir(), 'bm-repro-'))
writeFileSync(join(dir, '0001_t.sql'), `-- migrate:up
create table t (x int);
create function slow_commit() returns trigger language plpgsql as $$ begin perform pg_sleep(3); return null; end $$;
create constraint trigger t_slow after insert on t deferrable initially deferred for each row execute function slow_commit();
`)
writeFileSync(join(dir, '0002_fill.sql'), `-- migrate:up\ninsert into t values (1);\n`)

let blocker
if (mode === 'create-history') {
  // Another session creates the history table and does not commit yet: the migrator's CREATE TABLE IF NOT EXISTS waits on it.
  blocker = await sql.reserve()
  await blocker.unsafe('begin')
  await blocker.unsafe('create table public.boot_migrate_history (id text)')
}
const t0 = Date.now()
const child = spawn(process.execPath, [worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify({ url, dir, ddlLockTimeout: 20000 }) }, stdio: ['ignore', 'pipe', 'pipe'] })
let out = ''
child.stdout.on('data', (d) => (out += d)); child.stderr.on('data', (d) => (out += d))
const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal, ms: Date.now() - t0 })))
const target = mode === 'commit' ? `query = 'commit' and state = 'active'` : `query ilike 'create table if not exists%' and state = 'active'`
for (;;) {
  const rows = await sql.unsafe(`select pid, state, query from pg_stat_activity where application_name like 'boot-migrate%' and datname = current_database() and ${target}`)
  if (rows.length) {
    const [r] = await sql.unsafe('select pg_terminate_backend($1) as ok', [rows[0].pid])
    console.log(`+${Date.now() - t0} ms terminated backend ${rows[0].pid} (${rows[0].state}: ${rows[0].query.slice(0, 60)}) → ${r.ok}`)
    break
  }
  if (Date.now() - t0 > 30000) { console.log('never saw the target query'); break }
  await new Promise((r) => setTimeout(r, 20))
}
if (blocker) { await blocker.unsafe('rollback'); blocker.release() }
const timeout = new Promise((r) => setTimeout(() => r('still running after 30 s'), 30000))
const res = await Promise.race([exited, timeout])
console.log('worker:', JSON.stringify(res))
console.log(out.trim())
console.log('history:', JSON.stringify(await sql.unsafe(`select id, state from boot_migrate_history order by id`).catch((e) => e.message)))
console.log('t rows:', JSON.stringify(await sql.unsafe(`select count(*)::int as n from t`).catch((e) => e.message)))
child.kill('SIGKILL')
await sql.end({ timeout: 1 })
await admin.unsafe(`drop database if exists "${name}" with (force)`)
await admin.end()
