// Reproduction, one run: the migration backend is terminated during `select pg_sleep(3)`, the second of three
// statements of revision 0002 (only the repro's own database), which runs outside a transaction (notx, the
// default) or in one (tx). Prints how the worker ended, how long it took, and the history.
// usage: node test/torture/repro/statement-drop.mjs [notx|tx]   (BOOT_MIGRATE_ENTRY=<build>/index.js)
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'

const worker = fileURLToPath(new URL('../worker.mjs', import.meta.url))
const server = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const admin = postgres(server, { max: 1, onnotice: () => {} })
const name = `bm_repro_${Date.now()}`
await admin.unsafe(`create database "${name}"`)
const u = new URL(server); u.pathname = `/${name}`
const url = u.toString()
const sql = postgres(url, { max: 2, onnotice: () => {} })
const dir = mkdtempSync(join(tmpdir(), 'bm-repro-'))
const tx = process.argv[2] === 'tx'
writeFileSync(join(dir, '0001_t.sql'), `-- migrate:up\ncreate table t (x int);\n`)
writeFileSync(join(dir, '0002_slow.sql'), `-- migrate:up\n${tx ? '' : '-- migrate:no-transaction\n'}insert into t values (1);\nselect pg_sleep(3);\ninsert into t values (2);\n`)
const t0 = Date.now()
const child = spawn(process.execPath, [worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify({ url, dir }) }, stdio: ['ignore', 'pipe', 'pipe'] })
let out = ''
child.stdout.on('data', (d) => (out += d)); child.stderr.on('data', (d) => (out += d))
const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal, ms: Date.now() - t0 })))
for (;;) {
  const rows = await sql.unsafe(`select pid from pg_stat_activity where application_name like 'boot-migrate%' and datname = current_database() and query like 'select pg_sleep%' and state = 'active'`)
  if (rows.length) { await sql.unsafe('select pg_terminate_backend($1)', [rows[0].pid]); console.log(`+${Date.now() - t0} ms terminated ${rows[0].pid}`); break }
  await new Promise((r) => setTimeout(r, 20))
}
console.log('worker:', JSON.stringify(await Promise.race([exited, new Promise((r) => setTimeout(() => r('running after 30 s'), 30000))])))
console.log(out.trim())
console.log('history:', JSON.stringify(await sql.unsafe(`select id, state from boot_migrate_history order by id`)))
child.kill('SIGKILL')
await sql.end({ timeout: 1 }); await admin.unsafe(`drop database if exists "${name}" with (force)`); await admin.end()
