// Scenario 5: cold start on a folder shaped like a real project (lib/project.mjs: 135 revisions, ~7,300 statements,
// files of 1–50 kB, PostgreSQL functions in dollar quotes, SQLite triggers), boot-migrate beside drizzle, each in a
// fresh `node` process per sample (child.mjs `cold`), in rotating order:
//   5(a) no-op boot at head, PostgreSQL;  5(b) no-op boot at head, SQLite;  5(c) SQLite from an empty file: apply all.
// Both read the same drizzle-kit folder (boot-migrate takes drizzle's layout over); boot-migrate also reads the same
// revisions as its own `-- migrate:up` files. Needs only the root's devDependencies (drizzle-orm, postgres,
// better-sqlite3) and a build of dist/:
//   npx tsup && node bench/coldstart.mjs [--samples 15] [--only a,b,c]
// Writes bench/results/<date>-coldstart.{md,json}.
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { closeAdmin, dropPg, freshPg, freshSqlite, scratchDir } from './lib/db.mjs'
import { projectRevisions } from './lib/project.mjs'
import { formats } from './lib/revisions.mjs'
import { fmt, fmtRatio, median, p95, ratio, table } from './lib/stats.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = args.lastIndexOf(`--${name}`)
  return i < 0 ? fallback : args[i + 1]
}
const SAMPLES = Number(opt('samples', '15'))
const only = new Set(opt('only', 'a,b,c').split(','))
const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a)

if (!process.env.BOOT_MIGRATE_ENTRY) {
  const copy = join(here, '.tmp', `dist-${Date.now()}`)
  cpSync(join(root, 'dist'), copy, { recursive: true })
  process.env.BOOT_MIGRATE_ENTRY = join(copy, 'index.js')
  process.on('exit', () => rmSync(copy, { recursive: true, force: true }))
}

function child(argv) {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const c = spawn(process.execPath, [join(here, 'child.mjs'), ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: here })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.stderr.on('data', (d) => (out += d))
    c.on('exit', (code) => {
      const wall = performance.now() - t0
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      resolve({ code, wall, out, ...(line ? JSON.parse(line.slice(7)) : {}) })
    })
  })
}

function folders(dialect) {
  const revs = projectRevisions(dialect)
  const drizzleDir = formats.drizzle(scratchDir(`project-${dialect}-drizzle`), revs, dialect)
  const ownDir = formats['boot-migrate'](scratchDir(`project-${dialect}-own`), revs, dialect)
  return { revs, drizzleDir, ownDir, statements: revs.reduce((n, r) => n + r.statements.length, 0) }
}

/** Runs every setup SAMPLES times in rotating order (after one unmeasured round); `prepare` makes each sample's database. */
async function measure(setups, { expectApplied, prepare }) {
  const samples = new Map(setups.map((s) => [s.name, []]))
  for (let round = -1; round < SAMPLES; round++) {
    const order = setups.map((_, i) => setups[(i + Math.max(0, round)) % setups.length])
    for (const s of order) {
      const db = prepare ? await prepare(s) : s.db
      const res = await child(['cold', s.peer, s.dialect, db.url, s.dir])
      if (res.code !== 0 || !('runMs' in res)) throw new Error(`${s.name} failed:\n${res.out}`)
      if (expectApplied !== undefined && (res.applied ?? expectApplied) !== expectApplied && s.peer.startsWith('boot-migrate'))
        throw new Error(`${s.name} applied ${res.applied}, expected ${expectApplied}`)
      if (prepare?.done) await prepare.done(db)
      if (round >= 0) samples.get(s.name).push({ ...res, inProcess: res.importMs + res.runMs })
    }
  }
  return setups.map((s) => {
    const xs = samples.get(s.name)
    const m = (k) => median(xs.map((x) => x[k]))
    return { name: s.name, wall: m('wall'), wallP95: p95(xs.map((x) => x.wall)), importMs: m('importMs'), runMs: m('runMs'), inProcess: m('inProcess'), samples: xs.map(({ wall, importMs, runMs }) => ({ wall, importMs, runMs })) }
  })
}

const setupsFor = (dialect, f, peers) =>
  peers.map(([name, peer, dir]) => ({ name, peer, dialect, dir: dir === 'own' ? f.ownDir : f.drizzleDir }))

const result = { date: new Date().toISOString(), samples: SAMPLES, node: process.version, cpus: cpus().length, commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(), scenarios: {} }
const noOpPeers = [
  ['boot-migrate (drizzle folder)', 'boot-migrate', 'drizzle'],
  ['boot-migrate (own format)', 'boot-migrate', 'own'],
  ['drizzle', 'drizzle', 'drizzle'],
]

for (const [key, dialect] of [['a', 'pg'], ['b', 'sqlite']]) {
  if (!only.has(key)) continue
  const f = folders(dialect)
  log(`5(${key}) ${dialect}: no-op boot at head, ${f.revs.length} revisions, ${f.statements} statements`)
  const setups = setupsFor(dialect, f, noOpPeers)
  for (const s of setups) {
    s.db = dialect === 'pg' ? await freshPg(`s5${key}`) : await freshSqlite(`s5${key}`)
    const res = await child(['cold', s.peer, dialect, s.db.url, s.dir])
    if (res.code !== 0) throw new Error(`${s.name} could not migrate:\n${res.out}`)
  }
  result.scenarios[key] = { dialect, revisions: f.revs.length, statements: f.statements, rows: await measure(setups, { expectApplied: 0 }) }
  if (dialect === 'pg') for (const s of setups) await dropPg(s.db.name)
}

if (only.has('c')) {
  const f = folders('sqlite')
  log(`5(c) sqlite: apply ${f.revs.length} revisions (${f.statements} statements) to an empty file`)
  const setups = setupsFor('sqlite', f, [
    ['boot-migrate (drizzle folder)', 'boot-migrate', 'drizzle'],
    ['boot-migrate (own format)', 'boot-migrate', 'own'],
    ["boot-migrate (own format, transaction: 'each')", "boot-migrate (transaction: 'each')", 'own'],
    ['drizzle', 'drizzle', 'drizzle'],
  ])
  const prepare = async () => freshSqlite('s5c')
  prepare.done = (db) => rmSync(dirname(db.url), { recursive: true, force: true })
  result.scenarios.c = { dialect: 'sqlite', revisions: f.revs.length, statements: f.statements, rows: await measure(setups, { expectApplied: f.revs.length, prepare }) }
}
await closeAdmin()

const title = { a: 'PostgreSQL: no-op boot at head', b: 'SQLite: no-op boot at head', c: 'SQLite: every revision applied to an empty file' }
let md = `# Scenario 5: cold start on a project-shaped folder (${result.date})\n\n\`node bench/coldstart.mjs --samples ${SAMPLES}\` at ${result.commit}, Node ${result.node}, ${result.cpus} cores. A fresh process per sample; medians of ${SAMPLES}.\n`
for (const [key, s] of Object.entries(result.scenarios)) {
  const dz = s.rows.find((r) => r.name === 'drizzle')
  md += `\n## 5(${key}) ${title[key]} (${s.revisions} revisions, ${s.statements} statements)\n\n`
  md += table(
    ['process', 'wall median ms', 'wall p95', 'import ms', 'run ms', 'in process (import + run) ms', 'wall ÷ drizzle', 'in process ÷ drizzle'],
    s.rows.map((r) => [r.name, fmt(r.wall), fmt(r.wallP95), fmt(r.importMs), fmt(r.runMs), fmt(r.inProcess), fmtRatio(ratio(r.wall, dz.wall)), fmtRatio(ratio(r.inProcess, dz.inProcess))]),
  ) + '\n'
}
console.log(md)
mkdirSync(join(here, 'results'), { recursive: true })
const stem = join(here, 'results', `${result.date.replace(/[:.]/g, '-')}-coldstart`)
writeFileSync(`${stem}.md`, md)
writeFileSync(`${stem}.json`, JSON.stringify(result, null, 2))
log(`written ${stem}.{md,json}`)
