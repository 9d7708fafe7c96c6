// Reproduction: a PL/pgSQL loop terminates the worker's backend the instant pg_locks shows the migration (advisory)
// lock granted in the repro's own database (never another database's sessions), after a random 0–maxMs ms; tallies
// how the worker ends. On eed7263 most workers exited with code 13 after LOCKED: run() never settled.
// usage: node test/torture/repro/lockgrant-loop.mjs [iterations=30] [maxMs=0]
//   BOOT_MIGRATE_ENTRY=<build>/index.js to test another build than dist/;
//   WORKER=test/torture/repro/app-worker.mjs for a worker whose event loop stays alive, as an app's does.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { fileURLToPath } from 'node:url'

const worker = fileURLToPath(new URL('../worker.mjs', import.meta.url))
const N = Number(process.argv[2] ?? 30), MAX = Number(process.argv[3] ?? 0)
const server = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const admin = postgres(server, { max: 1, onnotice: () => {} })
const dir = mkdtempSync(join(tmpdir(), 'bm-repro-'))
for (let i = 1; i <= 3; i++) writeFileSync(join(dir, `000${i}_t${i}.sql`), `-- migrate:up\ncreate table t${i} (x int);\n`)
const tally = {}
const wait = (ms) => new Promise((r) => setTimeout(r, ms))
for (let it = 0; it < N; it++) {
  const name = `bm_repro_${Date.now()}_${it}`
  await admin.unsafe(`create database "${name}"`)
  const u = new URL(server); u.pathname = `/${name}`
  const url = u.toString()
  const sql = postgres(url, { max: 1, onnotice: () => {} })
  const delay = (Math.random() * MAX) / 1000
  const watcher = sql.unsafe(`do $$ declare p int; t0 timestamptz := clock_timestamp(); begin
      loop
        select l.pid into p from pg_locks l where l.locktype = 'advisory' and l.granted and l.pid <> pg_backend_pid() and l.database = (select oid from pg_database where datname = current_database()) limit 1;
        if p is not null then perform pg_sleep(${delay}); perform pg_terminate_backend(p); exit; end if;
        exit when clock_timestamp() - t0 > interval '20 s';
      end loop; end $$`).then(() => undefined, (e) => console.error('watcher:', e.message)) // postgres.js queries are lazy: start it now
  await wait(50)
  const child = spawn(process.execPath, [process.env.WORKER ?? worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify({ url, dir }) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d)); child.stderr.on('data', (d) => (out += d))
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
  const r = await Promise.race([exited, wait(30000).then(() => ({ code: 'hung 30 s' }))])
  await watcher.catch(() => undefined)
  const err = out.match(/^ERROR (.*)$/m)
  const outcome = r.code === 0 ? 'success' : err ? JSON.parse(err[1]).code + (JSON.parse(err[1]).revision ? '' : ' (no revision)') : `exit ${r.code} without an ERROR line`
  if (out.includes('PENDING')) console.log(out.split('\n').find((l) => l.startsWith('PENDING')));
  const key = `${outcome}; printed ${out.split('\n').filter((l) => l && !l.startsWith('ERROR')).map((l) => l.split(' ')[0]).join(',') || 'nothing'}`
  tally[key] = (tally[key] ?? 0) + 1
  child.kill('SIGKILL')
  await sql.end({ timeout: 1 })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
}
for (const [k, n] of Object.entries(tally).sort((a, b) => b[1] - a[1])) console.log(`${String(n).padStart(3)}  ${k}`)
await admin.end()
