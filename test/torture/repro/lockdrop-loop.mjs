// Reproduction: on a fresh database, 0–maxMs ms after a worker prints LOCKED (it took the migration lock), its
// backend is terminated (only that worker's session); tallies how the worker ends and what its session was doing.
// Before eed7263 most ended MIGRATION_FAILED with no revision instead of CONNECTION_LOST.
// usage: node test/torture/repro/lockdrop-loop.mjs [iterations=40] [maxMs=15]   (BOOT_MIGRATE_ENTRY=<build>/index.js)
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { fileURLToPath } from 'node:url'

const worker = fileURLToPath(new URL('../worker.mjs', import.meta.url))
const N = Number(process.argv[2] ?? 40), MAX = Number(process.argv[3] ?? 15)
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
  await sql`select 1`
  const child = spawn(process.execPath, [worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify({ url, dir }) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const delay = Math.random() * MAX
  let what = 'no session'
  const locked = new Promise((r) => child.stdout.on('data', (d) => { out += d; if (out.includes('LOCKED')) r() }))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
  locked.then(async () => {
    await wait(delay)
    const rows = await sql.unsafe(`select pid, state, left(query, 50) as query, pg_terminate_backend(pid) as ok from pg_stat_activity where application_name like '%:' || $1::text and datname = current_database()`, [String(child.pid)])
    if (rows[0]) what = `${rows[0].state}: ${rows[0].query}`
  })
  const r = await Promise.race([exited, wait(30000).then(() => ({ code: 'hung 30 s' }))])
  const err = out.match(/^ERROR (.*)$/m)
  const outcome = r.code === 0 ? 'success' : err ? JSON.parse(err[1]).code + (JSON.parse(err[1]).revision ? '' : ' (no revision)') : `exit ${r.code} without an ERROR line`
  const key = `${outcome}  ⟵ terminated while ${what.replace(/\s+/g, ' ')}`
  tally[key] = (tally[key] ?? 0) + 1
  child.kill('SIGKILL')
  await sql.end({ timeout: 1 })
  await admin.unsafe(`drop database if exists "${name}" with (force)`)
}
for (const [k, n] of Object.entries(tally).sort((a, b) => b[1] - a[1])) console.log(`${String(n).padStart(3)}  ${k}`)
await admin.end()
