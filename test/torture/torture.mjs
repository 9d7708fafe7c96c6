#!/usr/bin/env node
// The crash-torture suite: processes migrating a 20-revision set are killed with SIGKILL at random instants,
// sometimes several at once; then a fresh process migrates. After every trial the invariants are checked:
//   1. every transactional revision is either applied and recorded, or neither (never partly, never twice);
//   2. a no-transaction revision interrupted mid-way is reported as DIRTY and never silently re-run;
//   3. once the dirty revision is resolved (as an operator would), the final run succeeds, with everything applied;
//   4. no lock is left held (PostgreSQL advisory lock, SQLite lock folder);
//   5. no data in pre-existing tables is lost.
//
//   npm run torture                                  (full run: 200 trials per dialect, bounded in time)
//   node test/torture/torture.mjs [--dialect postgres,sqlite] [--trials 200] [--max-minutes 15] [--seed N] [--no-snapshot]
//
// PostgreSQL: TORTURE_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test
// (a superuser: one database per trial, dropped afterwards). Workers import the BUILT package: build first.
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ids, NO_TX, postgresDialect, sqliteDialect } from './dialects.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const worker = join(here, 'worker.mjs')
const TX_IDS = ids.filter((id) => id !== NO_TX)

/** A small seeded generator, so that a run's choices (not its timings) can be replayed. */
function rng(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, pick: (xs) => xs[Math.floor(next() * xs.length)], between: (lo, hi) => lo + next() * (hi - lo) }
}

/** Starts a migrating process; `kill(afterMs)` sends SIGKILL later unless it has exited. */
function start(options) {
  const t0 = Date.now()
  const child = spawn(process.execPath, [worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify(options) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const watchers = []
  child.stdout.on('data', (d) => {
    out += d
    for (const w of watchers) w()
  })
  child.stderr.on('data', (d) => (out += d))
  const proc = {
    child,
    killed: false,
    started: [],
    done: new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        const line = (tag) => out.split('\n').find((l) => l.startsWith(tag))?.slice(tag.length)
        const r = line('RESULT ')
        const e = line('ERROR ')
        proc.started = out
          .split('\n')
          .filter((l) => l.startsWith('START '))
          .map((l) => l.slice(6).trim())
        resolve({ code, signal, ms: Date.now() - t0, out, result: r ? JSON.parse(r) : undefined, error: e ? JSON.parse(e) : undefined })
      }),
    ),
    kill() {
      if (child.exitCode === null && child.signalCode === null) {
        proc.killed = true
        child.kill('SIGKILL')
      }
    },
    killAfter(ms) {
      setTimeout(() => proc.kill(), ms)
    },
    /** Calls fn once the process has printed `text`. */
    when(text, fn) {
      const check = () => {
        if (out.includes(text)) {
          watchers.splice(watchers.indexOf(check), 1)
          fn()
        }
      }
      watchers.push(check)
      check()
    },
  }
  return proc
}

/** Invariant 1 and the no-transaction part of 2 on one snapshot; returns what is wrong. */
export function consistency(s, when) {
  const bad = []
  for (const id of TX_IDS) {
    const recorded = s.history.get(id)
    const effect = s.effects.get(id)
    const marks = s.markers.get(id) ?? 0
    if (effect === 'partial') bad.push(`${when}: revision ${id} is partly applied`)
    if (marks > 1) bad.push(`${when}: revision ${id} was applied ${marks} times`)
    if (recorded === 'running') bad.push(`${when}: transactional revision ${id} has a "running" history row`)
    if ((recorded === 'applied') !== (effect === true) || (recorded === 'applied') !== (marks === 1))
      bad.push(`${when}: revision ${id} is ${recorded ?? 'not recorded'} but its effect is ${effect === true ? 'present' : effect === false ? 'absent' : effect} (logged ${marks}×)`)
  }
  const nt = s.history.get(NO_TX)
  if (nt === undefined && (s.nt.start || s.nt.end || s.index !== 'none'))
    bad.push(`${when}: no-transaction revision ${NO_TX} left effects (${JSON.stringify(s.nt)}, index ${s.index}) without a history row`)
  if (nt === 'applied' && !(s.nt.start === 1 && s.nt.end === 1 && s.index === 'valid'))
    bad.push(`${when}: revision ${NO_TX} is recorded applied but ran ${s.nt.start}× to its start, ${s.nt.end}× to its end, index ${s.index}`)
  if (nt === 'running' && (s.nt.start > 1 || s.nt.end > 1)) bad.push(`${when}: dirty revision ${NO_TX} ran more than once (${JSON.stringify(s.nt)})`)
  // Revisions are applied in order: the applied ones are a prefix of the list (0010 may be running at its place).
  const done = ids.map((id) => s.history.has(id))
  const firstGap = done.indexOf(false)
  if (firstGap >= 0 && done.slice(firstGap).some(Boolean)) bad.push(`${when}: applied revisions are not a prefix: ${ids.filter((_, i) => done[i]).join(',')}`)
  return bad
}

/** What must hold once the final run has succeeded. */
export function finalChecks(s, { fingerprint, expectedFingerprint, lockHeld, settled }) {
  const bad = consistency(s, 'after the final run')
  const missing = ids.filter((id) => s.history.get(id) !== 'applied')
  if (missing.length) bad.push(`after the final run: not applied: ${missing.join(', ')}`)
  const extra = [...s.history.keys()].filter((id) => !ids.includes(id))
  if (extra.length) bad.push(`after the final run: unknown history rows ${extra.join(', ')}`)
  if (fingerprint !== expectedFingerprint) bad.push(`pre-existing data changed: keep was ${expectedFingerprint} (rows/sum id/sum v), now ${fingerprint}`)
  if (lockHeld) bad.push(`the migration lock is still held after the final run: ${lockHeld === true ? 'held' : lockHeld}`)
  if (!settled) bad.push('sessions of finished processes are still connected 15 s after the final run')
  return bad
}

export async function runTorture({ dialect, trials, serverUrl, seed = Date.now() % 1e9, maxMs = Infinity, log = () => undefined, forceDirtyFirst = false }) {
  const began = Date.now()
  const random = rng(seed)
  const entry = process.env.BOOT_MIGRATE_ENTRY
  const { createMigrator } = await import(entry ? pathToFileURL(entry).href : 'boot-migrate')
  let impl
  let admin
  if (dialect === 'postgres') {
    const postgres = (await import('postgres')).default
    impl = postgresDialect(postgres)
    admin = postgres(serverUrl, { max: 1, onnotice: () => undefined })
  } else {
    impl = sqliteDialect((await import('better-sqlite3')).default)
  }
  const scratch = mkdtempSync(join(tmpdir(), `boot-migrate-torture-${dialect}-`))
  const dir = join(scratch, 'revisions')
  mkdirSync(dir)
  for (const [f, text] of Object.entries(impl.files)) writeFileSync(join(dir, f), text)

  const violations = []
  const stats = {
    trials: 0,
    processes: 0,
    killed: 0,
    dirty: 0,
    resolvedApplied: 0,
    resolvedRolledBack: 0,
    settledFirst: 0,
    prefixed: 0,
    staleLockFolders: 0,
    afterKills: { none: 0, some: 0, all: 0 },
  }
  const wait = async (p, limitMs, what, trial) => {
    let timer
    const r = await Promise.race([p.done, new Promise((res) => (timer = setTimeout(() => res(null), limitMs)))])
    clearTimeout(timer)
    if (r) return r
    violations.push({ trial, message: `${what} did not finish within ${limitMs / 1000} s` })
    p.kill()
    return p.done
  }

  try {
    // Calibration: how long a clean run takes here, so kill instants spread over a whole run.
    const cal = await impl.create(serverUrl, admin, 'calibration', scratch)
    const clean = await start({ ...cal.options, dir })
    const calRun = await clean.done
    if (calRun.code !== 0) throw new Error(`the calibration run failed:\n${calRun.out}`)
    const calState = await impl.state(cal)
    const calBad = consistency(calState, 'calibration').concat(ids.filter((id) => calState.history.get(id) !== 'applied').map((id) => `calibration: ${id} not applied`))
    if (calBad.length) throw new Error(calBad.join('\n'))
    await cal.drop()
    const D = calRun.ms
    log(`${dialect}: a clean run takes ${D} ms; seed ${seed}`)

    for (let trial = 1; trial <= trials; trial++) {
      if (Date.now() - began > maxMs) {
        log(`${dialect}: stopping at the time limit after ${trial - 1} trials`)
        break
      }
      const issues = []
      const db = await impl.create(serverUrl, admin, trial, scratch)
      const options = { ...db.options, dir }
      try {
        const expectedFingerprint = await impl.fingerprint(db)
        const directed = forceDirtyFirst && trial === 1
        // Sometimes the database is already part-way: an earlier deploy applied a prefix.
        if (!directed && random.next() < 0.2) {
          const to = random.pick(ids.slice(0, 15).filter((id) => id !== NO_TX))
          const pre = await wait(start({ ...options, to }), 120_000, 'the pre-migration', trial)
          if (pre.code !== 0) issues.push(`pre-migration to ${to} failed: ${pre.error?.code} ${pre.error?.message ?? pre.out.slice(-300)}`)
          stats.prefixed++
        }

        // The kills.
        const k = directed ? 1 : random.pick([1, 1, 1, 2, 2, 3])
        const sameInstant = random.next() < 0.3
        const shared = random.between(0, 1.1 * D)
        const procs = []
        for (let i = 0; i < k; i++) {
          const p = start(options)
          procs.push(p)
          if (directed) p.when(`START ${NO_TX}`, () => setTimeout(() => p.kill(), random.between(30, 200)))
          else if (random.next() < 0.2) p.when(`START ${NO_TX}`, () => setTimeout(() => p.kill(), random.between(0, 500)))
          else p.killAfter(sameInstant ? shared : random.between(0, 1.1 * D))
        }
        const runs = await Promise.all(procs.map((p) => wait(p, 120_000, 'a migrating process', trial)))
        stats.processes += k
        stats.killed += procs.filter((p) => p.killed).length
        for (const [i, r] of runs.entries()) {
          if (procs[i].killed) continue
          if (r.code === 0) continue
          if (r.error?.code !== 'DIRTY') issues.push(`a process that was not killed failed: ${r.error?.code ?? `exit ${r.code}`} ${r.error?.message ?? r.out.slice(-300)}`)
        }

        // Half the time, look at the database once the killed processes' sessions are gone.
        const settleFirst = directed || random.next() < 0.5
        if (settleFirst) {
          stats.settledFirst++
          if (!(await impl.settle(db))) issues.push('sessions of killed processes still connected after 15 s')
          issues.push(...consistency(await impl.state(db), 'after the kills'))
        }
        // The history as it is now; a "running" row can only go away through resolve, never by itself.
        const before = await impl.state(db)
        const applied = ids.filter((id) => before.history.get(id) === 'applied').length
        stats.afterKills[applied === 0 ? 'none' : applied === ids.length ? 'all' : 'some']++
        const dirtyKnown = before.history.get(NO_TX) === 'running'

        // A fresh process, as the restarted pod.
        const fresh = start(options)
        const f = await wait(fresh, 180_000, 'the fresh process', trial)
        if (!(await impl.settle(db))) issues.push('sessions still connected 15 s after the fresh process ended')
        const afterFresh = await impl.state(db)
        issues.push(...consistency(afterFresh, 'after the fresh run'))
        if (f.code === 0) {
          if (dirtyKnown) issues.push(`the fresh run succeeded although ${NO_TX} was dirty: it was run again or skipped silently`)
        } else if (f.error?.code === 'DIRTY') {
          stats.dirty++
          if (afterFresh.history.get(NO_TX) !== 'running') issues.push(`DIRTY reported but ${NO_TX} is ${afterFresh.history.get(NO_TX) ?? 'not recorded'}`)
          if (fresh.started.includes(NO_TX)) issues.push(`the fresh run started the dirty revision ${NO_TX} again`)
          if (settleFirst && (afterFresh.nt.start !== before.nt.start || afterFresh.nt.end !== before.nt.end))
            issues.push(`the dirty revision's statements ran again (${JSON.stringify(before.nt)} → ${JSON.stringify(afterFresh.nt)})`)
          if (!f.error.message.includes(NO_TX)) issues.push(`the DIRTY message does not name ${NO_TX}: ${f.error.message}`)
          // What the operator does: look, complete or undo, then resolve.
          const outcome = await impl.repair(db, afterFresh)
          stats[outcome === 'applied' ? 'resolvedApplied' : 'resolvedRolledBack']++
          await createMigrator({ ...options, logger: false }).resolve(NO_TX, outcome)
        } else {
          issues.push(`the fresh run failed: ${f.error?.code ?? `exit ${f.code}`} ${f.error?.message ?? f.out.slice(-300)}`)
        }

        // The final run: must succeed, with everything in place.
        const last = await wait(start(options), 180_000, 'the final process', trial)
        if (last.code !== 0) issues.push(`the final run failed: ${last.error?.code ?? `exit ${last.code}`} ${last.error?.message ?? last.out.slice(-300)}`)
        const settled = await impl.settle(db)
        const killedPids = procs.filter((p) => p.killed).map((p) => p.child.pid)
        let lock = await impl.lockHeld(db, killedPids)
        if (lock?.leftByKilled) {
          // A killed process's lock folder, which no later run needed: the next process that needs the lock must
          // take it over once stale and free it. resolve() takes the lock, finds nothing dirty and lets go.
          stats.staleLockFolders++
          const e = await createMigrator({ ...options, logger: false })
            .resolve(NO_TX, 'applied')
            .then(() => null, (err) => err)
          if (e?.code !== 'INVALID_OPTIONS') issues.push(`taking over the stale lock left by a killed process failed: ${e?.code ?? 'no error'} ${e?.message ?? ''}`)
          lock = await impl.lockHeld(db, [])
        }
        issues.push(
          ...finalChecks(await impl.state(db), {
            fingerprint: await impl.fingerprint(db),
            expectedFingerprint,
            lockHeld: lock,
            settled,
          }),
        )
        // Every process that reported success applied disjoint sets of revisions.
        const seen = new Map()
        for (const r of [...runs, f, last])
          for (const id of r.result?.applied ?? []) {
            if (seen.has(id)) issues.push(`revision ${id} was reported applied by two processes`)
            seen.set(id, true)
          }
      } catch (e) {
        issues.push(`the harness failed: ${e?.stack ?? e}`)
      } finally {
        await db.drop().catch(() => undefined)
      }
      stats.trials++
      for (const message of issues) violations.push({ trial, message })
      if (issues.length) log(`${dialect} trial ${trial}: ${issues.length} violation(s):\n  ${issues.join('\n  ')}`)
      else if (trial % 20 === 0) log(`${dialect}: ${trial} trials, ${violations.length} violations so far (${Math.round((Date.now() - began) / 1000)} s)`)
    }
  } finally {
    await admin?.end({ timeout: 1 })
    rmSync(scratch, { recursive: true, force: true })
  }
  return { dialect, seed, trials: stats.trials, violations, stats, durationMs: Date.now() - began }
}

export function summary(r) {
  const s = r.stats
  return (
    `${r.dialect}: ${r.trials} trials, ${r.violations.length} violations in ${Math.round(r.durationMs / 1000)} s (seed ${r.seed}). ` +
    `${s.processes} migrating processes, ${s.killed} killed with SIGKILL; after the kills ${s.afterKills.none} databases had nothing applied, ` +
    `${s.afterKills.some} were part-way, ${s.afterKills.all} complete; ${s.dirty} dirty (resolved: ${s.resolvedApplied} applied, ${s.resolvedRolledBack} rolled back); ` +
    `${s.prefixed} started from a part-migrated database; ${s.settledFirst} inspected before the fresh run; ` +
    `${s.staleLockFolders} lock folders left by killed processes and no later run, taken over once stale.`
  )
}

// CLI
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2)
  const opt = (name, fallback) => {
    const i = args.lastIndexOf(`--${name}`)
    return i < 0 ? fallback : args[i + 1]
  }
  const serverUrl = process.env.TORTURE_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  // A run takes minutes: it migrates with a copy of dist/ as it is now, inside the repository (so that the
  // package's drivers resolve from node_modules/), unaffected by a rebuild in the meantime.
  const root = join(here, '..', '..')
  const snapshot = join(root, '.tmp', `torture-dist-${process.pid}`)
  if (!args.includes('--no-snapshot') && !process.env.BOOT_MIGRATE_ENTRY) {
    cpSync(join(root, 'dist'), snapshot, { recursive: true })
    process.env.BOOT_MIGRATE_ENTRY = join(snapshot, 'index.js')
    process.on('exit', () => rmSync(snapshot, { recursive: true, force: true }))
    for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130))
  }
  const trials = Number(opt('trials', 200))
  const maxMs = Number(opt('max-minutes', 15)) * 60_000
  const seed = Number(opt('seed', Date.now() % 1e9))
  const results = []
  for (const dialect of opt('dialect', 'postgres,sqlite').split(',')) {
    const r = await runTorture({ dialect, trials, serverUrl, seed, maxMs, log: (m) => console.error(m) })
    results.push(r)
    console.log(summary(r))
    for (const v of r.violations) console.log(`  trial ${v.trial}: ${v.message}`)
  }
  const total = results.reduce((a, r) => a + r.violations.length, 0)
  const ran = results.reduce((a, r) => a + r.trials, 0)
  console.log(`${total ? 'torture: FAILED' : 'torture: ok'}: ${ran} trials, ${total} violations`)
  process.exitCode = total ? 1 : 0
}
