// Reproductions of what the MySQL torture found (each in a database of its own, dropped afterwards). A worker
// is killed with SIGKILL while a statement of a 2-statement DDL revision runs; the server finishes that statement
// anyway (it does not watch the client's socket while it runs), so its effect is there while the progress table
// does not record it. Then the next run (DIRTY), and `resolve --resume`, as the DIRTY message suggests.
// What it showed before issue 14's fix (now: `dml` rolls statement 2 back with its progress record and resume
// inserts the row once; `ddl` is DIRTY saying statement 1 may have completed unrecorded, and resume stops on
// "Duplicate column name" keeping the revision dirty, pointing to `resolve --applied`):
//   node test/torture/repro/mysql-unrecorded.mjs ddl   killed in statement 1, an ALTER TABLE … ALGORITHM=COPY of
//       200,000 rows: resume runs it again, fails ("Duplicate column name"), then deletes the `running` row and says
//       "Nothing of it was applied": the history forgets a revision whose statement 1 is applied, and the next run
//       starts it as new (failing the same way) instead of refusing with DIRTY.
//   node test/torture/repro/mysql-unrecorded.mjs dml   killed in statement 2, a slow INSERT: resume runs it again
//       and succeeds: the row is inserted twice, silently, and the revision is recorded applied.
// (BOOT_MIGRATE_ENTRY=<build>/index.js, else dist/; TEST_MYSQL_URL, else mysql://root@127.0.0.1:3306/test)
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import mysql from 'mysql2/promise'

const mode = process.argv[2] ?? 'ddl'
const entry = process.env.BOOT_MIGRATE_ENTRY ?? fileURLToPath(new URL('../../../dist/index.js', import.meta.url))
const { createMigrator } = await import(pathToFileURL(entry).href)
const worker = fileURLToPath(new URL('../worker.mjs', import.meta.url))
const server = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
const admin = await mysql.createConnection({ uri: server })
const name = `bm_repro_${Date.now()}`
await admin.query(`create database \`${name}\``)
const u = new URL(server)
u.pathname = `/${name}`
const url = u.toString()
const sql = await mysql.createConnection({ uri: url })
const dir = mkdtempSync(join(tmpdir(), 'bm-repro-'))
const show = async (what) => {
  const [h] = await sql.query('select id, state from boot_migrate_history order by id').catch(() => [[]])
  const [p] = await sql.query('select id, step, hash from boot_migrate_history_progress order by id, step').catch(() => [[]])
  const [c] = await sql.query(`select column_name as c from information_schema.columns where table_schema = database() and table_name = 'big' order by ordinal_position`)
  const [l] = await sql.query('select count(*) as n from log')
  console.log(`${what}: history ${JSON.stringify(h)}; progress ${JSON.stringify(p)}; columns of big: ${c.map((r) => r.c).join(', ')}; rows in log: ${l[0].n}`)
}
try {
  await sql.query('create table big (id int primary key, v int)')
  await sql.query('create table log (x int)')
  await sql.query('set session cte_max_recursion_depth = 1000000').catch(() => undefined)
  await sql.query('set session max_recursive_iterations = 1000000').catch(() => undefined)
  await sql.query('insert into big with recursive g(x) as (select 1 union all select x + 1 from g where x < 200000) select x, x % 7 from g')
  const file =
    mode === 'dml'
      ? `alter table big add column note varchar(16);\ninsert into log select 1 from dual where sleep(0.8) = 0;`
      : `alter table big add column note varchar(16), algorithm=copy;\nalter table big add column w int;`
  writeFileSync(join(dir, '0001_big.sql'), `-- migrate:up\n${file}\n`)
  const child = spawn(process.execPath, [worker], { env: { ...process.env, BOOT_MIGRATE_ENTRY: entry, BM_OPTIONS: JSON.stringify({ url, dir }) }, stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
  const target = mode === 'dml' ? 'insert into log%' : 'alter table big%'
  for (;;) {
    const [rows] = await admin.query(`select id from information_schema.processlist where db = ? and info like ?`, [name, target])
    if (rows.length) break
    await new Promise((r) => setTimeout(r, 5))
  }
  await new Promise((r) => setTimeout(r, 100))
  child.kill('SIGKILL')
  console.log('worker:', await exited, `(killed during statement ${mode === 'dml' ? 2 : 1})`)
  for (;;) {
    const [[r]] = await admin.query(`select count(*) as n from information_schema.processlist where db = ? and id <> ?`, [name, sql.connection.threadId])
    if (Number(r.n) === 0) break
    await new Promise((res) => setTimeout(res, 20))
  }
  await show('after the killed session ended')
  const e = await createMigrator({ url, dir, logger: false }).run().then(() => null, (err) => err)
  console.log('next run:', e ? `${e.code}: ${e.message.slice(0, 500)}` : 'succeeded')
  const r = await createMigrator({ url, dir, logger: false }).resolve('0001', 'resume').then(() => null, (err) => err)
  console.log('resolve 0001 --resume:', r ? `${r.code}: ${r.message.slice(0, 400)}` : 'succeeded')
  await show('after resolve --resume')
  const n = await createMigrator({ url, dir, logger: false }).run().then(() => null, (err) => err)
  console.log('next run:', n ? `${n.code}: ${n.message.slice(0, 300)}` : 'succeeded')
} finally {
  await sql.end()
  await admin.query(`drop database if exists \`${name}\``)
  await admin.end()
}
