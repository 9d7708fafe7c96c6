#!/usr/bin/env node
// The crash-torture suite: processes migrating a 20-revision set are killed with SIGKILL at random instants,
// sometimes several at once; on PostgreSQL their database connections are also terminated at random instants
// (pg_terminate_backend from an admin connection), on SQLite some get SIGTERM (the worker calls stop()); then
// a fresh process migrates. After every trial the invariants are checked:
//   1. every transactional revision is either applied and recorded, or neither (never partly, never twice);
//   2. a no-transaction revision interrupted mid-way is reported as DIRTY and never silently re-run;
//   3. once the dirty revision is resolved (as an operator would), the final run succeeds, with everything applied;
//   4. no lock is left held (PostgreSQL advisory lock, SQLite lock folder);
//   5. no data in pre-existing tables is lost.
//
//   npm run torture                                  (full run: 200 trials per dialect, bounded in time)
//   node test/torture/torture.mjs [--dialect postgres,sqlite,mysql] [--trials 200] [--max-minutes 15] [--seed N] [--no-snapshot] [--events]
//
// A trial with a violation prints its event log (what each process started, every signal and terminated
// connection, every exit, in ms from the trial's start); --events prints it for every trial. The same --seed
// replays the same choices (not the same timings).
//
// PostgreSQL: TORTURE_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test
// (a superuser: one database per trial, dropped afterwards). MySQL/MariaDB: TORTURE_MYSQL_URL, else TEST_MYSQL_URL,
// else mysql://root@127.0.0.1:3306/test (skipped, saying so, when no server answers there); there the connection
// fault is KILL CONNECTION, and the revisions with DDL run statement by statement: their progress records must
// match the schema statement by statement. Workers import the BUILT package: build first.
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ids, mysqlDialect, NO_TX, postgresDialect, sqliteDialect } from './dialects.mjs'

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

/**
 * Starts a migrating process named `name`; `ev` receives its events for the trial's log. `signal(sig)` sends
 * SIGKILL or SIGTERM unless it has exited; `killed` is set once SIGKILL was sent or it died of a signal.
 */
function start(options, name = 'process', ev = () => undefined) {
  const t0 = Date.now()
  const child = spawn(process.execPath, [worker], { env: { ...process.env, BM_OPTIONS: JSON.stringify(options) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let partial = ''
  const watchers = []
  child.stdout.on('data', (d) => {
    out += d
    partial += d
    const lines = partial.split('\n')
    partial = lines.pop()
    for (const l of lines) {
      if (l.startsWith('START ')) {
        proc.firstStartMs ??= Date.now() - t0
        proc.current = l.slice(6).trim()
        ev(`${name} START ${proc.current}`)
      } else if (l === 'SIGTERM') ev(`${name} got SIGTERM: calling stop()`)
      else if (l === 'LOCKED') ev(`${name} holds the migration lock`)
    }
    for (const w of [...watchers]) w()
  })
  child.stderr.on('data', (d) => (out += d))
  ev(`${name} spawned (pid ${child.pid})`)
  const proc = {
    name,
    child,
    pid: child.pid,
    /** SIGKILL sent, or died of a signal. */
    killed: false,
    /** SIGTERM sent (the worker calls stop()). */
    stopped: false,
    /** Its database connections terminated by the trial. */
    drops: [],
    /** The revision it last started, and when it started its first one (ms after spawning). */
    current: undefined,
    firstStartMs: undefined,
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
        if (signal) proc.killed = true
        const run = { code, signal, ms: Date.now() - t0, out, result: r ? JSON.parse(r) : undefined, error: e ? JSON.parse(e) : undefined }
        ev(
          `${name} exited: ${signal ? `signal ${signal}` : `code ${code}`}` +
            (run.result ? `, applied ${run.result.applied.join(',') || 'nothing'}` : '') +
            (run.error ? `, ${run.error.code}${run.error.revision ? ` (${run.error.revision})` : ''}: ${run.error.message.slice(0, 400)}` : ''),
        )
        resolve(run)
      }),
    ),
    alive: () => child.exitCode === null && child.signalCode === null,
    signal(sig) {
      if (!proc.alive()) return
      if (sig === 'SIGKILL') proc.killed = true
      else proc.stopped = true
      ev(`${name} ${sig} sent (${proc.current ? `last started ${proc.current}` : 'no revision started yet'})`)
      child.kill(sig)
    },
    kill() {
      proc.signal('SIGKILL')
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

/**
 * Whether one migrating process of the kill phase ended as it may. A process killed by a signal may end
 * anyhow; otherwise it must succeed or fail with DIRTY (it met 0010 dirty), and only these faults allow
 * more: CONNECTION_LOST once one of its connections was terminated, ABORTED once it was sent SIGTERM.
 */
export function outcomeIssues(r, p) {
  if (p.killed || r.code === 0) return []
  const code = r.error?.code
  if (code === 'DIRTY') return []
  if (code === 'CONNECTION_LOST' && p.drops.length) return []
  if (code === 'ABORTED' && p.stopped) return []
  const what = r.error
    ? `${code}${r.error.revision ? ` (revision ${r.error.revision})` : ''}: ${r.error.message}`
    : `exit ${r.code}${r.signal ? ` (${r.signal})` : ''} without an ERROR line: ${r.out.slice(-300)}`
  const faults = [p.drops.length && `its connection was terminated (${p.drops.length}×)`, p.stopped && 'it was sent SIGTERM'].filter(Boolean)
  return [`${p.name}, ${faults.length ? faults.join(' and ') : 'neither killed nor otherwise disturbed'}, failed: ${what}`]
}

/**
 * Whether a CONNECTION_LOST report tells the truth about the database once the kill phase is over: in the
 * no-transaction revision it must leave that revision dirty (only resolve() clears a "running" row); in a
 * transactional revision, what the message says of the COMMIT must match the history, unless another
 * process started that revision too.
 */
export function lostReportIssues(name, error, s, { otherStarted = false } = {}) {
  if (error?.code !== 'CONNECTION_LOST' || !error.revision) return []
  const h = s.history.get(error.revision)
  // MySQL: a revision run statement by statement; lost before its running row was confirmed, nothing of it ran.
  if (s.steps?.has(error.revision)) {
    // Another process may have run the revision since (as for transactional ones): then its row is its.
    if (/Nothing of it was applied/.test(error.message))
      return h === undefined || h === 'running' || otherStarted ? [] : [`${name} reported CONNECTION_LOST before ${error.revision} ran, but its history row is ${h}`]
    // Lost while writing the applied mark, which landed: the message says the history shows it applied, and it must be.
    if (/after that write landed: the history shows it applied/.test(error.message))
      return h === 'applied' ? [] : [`${name} reported that ${error.revision}'s applied mark landed before its connection closed, but its history row is ${h ?? 'absent'}`]
    return h === 'running' ? [] : [`${name} reported CONNECTION_LOST inside ${error.revision} (run statement by statement), but its history row is ${h ?? 'absent'}, not "running" (dirty)`]
  }
  if (error.revision === NO_TX)
    return h === 'running' ? [] : [`${name} reported CONNECTION_LOST inside the no-transaction revision ${NO_TX}, but its history row is ${h ?? 'absent'}, not "running" (dirty)`]
  if (otherStarted) return []
  if (/history shows the revision applied/i.test(error.message) && h !== 'applied')
    return [`${name} reported that ${error.revision} committed before its connection closed, but its history row is ${h ?? 'absent'}`]
  if (/nothing of it is applied/i.test(error.message) && h !== undefined)
    return [`${name} reported that ${error.revision} was rolled back when its connection closed, but its history row is ${h}`]
  return []
}

/**
 * Terminates one boot-migrate session of the trial's database from the checker's (superuser) connection: a
 * random one (`u` in [0, 1) picks it among them, by pid), or the one of the worker with pid `workerPid`.
 * Returns what it found, for the trial's log.
 */
async function terminateOne(sql, u, workerPid) {
  const rows = await sql.unsafe(
    `with s as (
       select pid, application_name, state, left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 80) as query,
              row_number() over (order by pid) - 1 as i, count(*) over () as n
         from pg_stat_activity
        where application_name like 'boot-migrate%' and datname = current_database()
          and ($2::text is null or application_name like '%:' || $2::text))
     select pid, application_name, state, query, n::int as n, pg_terminate_backend(pid) as ok from s where i = floor($1::float8 * n)::int`,
    [u, workerPid === undefined ? null : String(workerPid)],
  )
  return rows[0]
}

/** Invariant 1 and the no-transaction part of 2 on one snapshot; returns what is wrong. */
export function consistency(s, when) {
  const bad = []
  // MySQL: the revisions with DDL run statement by statement (s.steps); the others in one transaction.
  for (const [id, st] of s.steps ?? []) bad.push(...steppedIssues(id, st, s.history.get(id), when))
  const running = [...s.history].filter(([, state]) => state === 'running').map(([id]) => id)
  if (s.steps && running.length > 1) bad.push(`${when}: more than one revision is dirty: ${running.join(', ')}`)
  for (const id of TX_IDS) {
    if (s.steps?.has(id)) continue
    const recorded = s.history.get(id)
    const effect = s.effects.get(id)
    const marks = s.markers.get(id) ?? 0
    if (effect === 'partial') bad.push(`${when}: revision ${id} is partly applied`)
    if (marks > 1) bad.push(`${when}: revision ${id} was applied ${marks} times`)
    if (recorded === 'running') bad.push(`${when}: transactional revision ${id} has a "running" history row`)
    if ((recorded === 'applied') !== (effect === true) || (recorded === 'applied') !== (marks === 1))
      bad.push(`${when}: revision ${id} is ${recorded ?? 'not recorded'} but its effect is ${effect === true ? 'present' : effect === false ? 'absent' : effect} (logged ${marks}×)`)
  }
  const nt = s.steps?.has(NO_TX) ? 'stepped' : s.history.get(NO_TX)
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

/**
 * A revision run statement by statement with progress records (DDL on MySQL): applied with every statement's
 * effect there once and no progress left; not recorded with none of them; or dirty (`running`) with exactly
 * the statements its progress records, in order, and none after them. `st.effects[i]` is true, false, 'partial',
 * 'N×' (applied N times) or null (no effect to look at).
 */
export function steppedIssues(id, st, recorded, when) {
  const bad = []
  const { effects } = st
  for (const [i, e] of effects.entries())
    if (e !== true && e !== false && e !== null) bad.push(`${when}: statement ${i + 1} of ${id} is ${/×$/.test(e) ? `applied ${e}` : e}`)
  const present = effects.map((e) => e !== false && e !== null)
  const absent = effects.map((e) => e === false)
  if (recorded === 'applied') {
    if (!absent.every((a) => !a)) bad.push(`${when}: revision ${id} is applied but statement(s) ${effects.map((e, i) => (e === false ? i + 1 : 0)).filter(Boolean).join(', ')} of ${effects.length} have no effect`)
    if (st.rows ?? st.recorded) bad.push(`${when}: revision ${id} is applied but ${st.rows ?? st.recorded} progress record(s) are left`)
  } else if (recorded === undefined) {
    if (present.some(Boolean)) bad.push(`${when}: revision ${id} is not recorded but statement(s) ${present.map((p, i) => (p ? i + 1 : 0)).filter(Boolean).join(', ')} of ${effects.length} have their effect`)
    if (st.rows ?? st.recorded) bad.push(`${when}: revision ${id} is not recorded but has ${st.rows ?? st.recorded} progress record(s)`)
  } else if (recorded === 'running') {
    const n = st.recorded
    const missing = effects.map((e, i) => (i < n && e === false ? i + 1 : 0)).filter(Boolean)
    // The statement recorded as starting (st.started, statement n + 1) may have completed or not: either is consistent.
    const extra = effects.map((e, i) => (i >= n && present[i] && !(st.started && i === n) ? i + 1 : 0)).filter(Boolean)
    if (missing.length) bad.push(`${when}: dirty revision ${id} records ${n} of ${effects.length} statements done, but statement(s) ${missing.join(', ')} have no effect`)
    if (extra.length)
      bad.push(`${when}: dirty revision ${id} records ${n} of ${effects.length} statements done, but statement(s) ${extra.join(', ')} have their effect too (completed without a progress record)`)
  } else bad.push(`${when}: revision ${id} has the history state ${recorded}`)
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

/**
 * `forceDirtyFirst`: trial 1 kills its one process 30–200 ms into the no-transaction revision (SIGKILL), trial 2
 * does the same with the dialect's other fault (PostgreSQL: its connection is terminated; SQLite: SIGTERM), so
 * that a small run goes through the dirty path every time.
 */
export async function runTorture({ dialect, trials, serverUrl, seed = Date.now() % 1e9, maxMs = Infinity, log = () => undefined, forceDirtyFirst = false, events: logEvents = false }) {
  const began = Date.now()
  const random = rng(seed)
  const entry = process.env.BOOT_MIGRATE_ENTRY
  const { createMigrator } = await import(entry ? pathToFileURL(entry).href : 'boot-migrate')
  const pg = dialect === 'postgres'
  const my = dialect === 'mysql'
  /** A server whose sessions the trial terminates (PostgreSQL, MySQL). */
  const server = pg || my
  let impl
  let admin
  if (my) {
    const mysql = (await import('mysql2/promise')).default
    impl = mysqlDialect(mysql)
    admin = await mysql.createConnection({ uri: serverUrl })
    admin.on('error', () => undefined)
  } else if (pg) {
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
  /** The event logs of the trials that had a violation (all of them with `events`). */
  const eventLogs = {}
  const stats = {
    trials: 0,
    processes: 0,
    killed: 0,
    /** SIGTERM sent (SQLite): the worker calls stop(). */
    stopped: 0,
    /** pg_terminate_backend: attempts that fired during the kill phase, sessions terminated, attempts that found none. */
    drops: { attempts: 0, terminated: 0, noSession: 0 },
    /** How the processes of the kill phase ended. */
    outcomes: { succeeded: 0, killed: 0, dirty: 0, connectionLost: 0, connectionLostIn0010: 0, connectionLostUnconfirmed: 0, aborted: 0, other: 0 },
    dirty: 0,
    resolvedApplied: 0,
    resolvedRolledBack: 0,
    /** MySQL: dirty revisions resumed (resolve --resume), and resumes that failed (then completed by hand). */
    resumed: 0,
    resumeFailed: 0,
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
    try {
      if (calRun.code !== 0) throw new Error(`the calibration run failed:\n${calRun.out}`)
      const calState = await impl.state(cal)
      const calBad = consistency(calState, 'calibration').concat(ids.filter((id) => calState.history.get(id) !== 'applied').map((id) => `calibration: ${id} not applied`))
      if (calBad.length) throw new Error(calBad.join('\n'))
    } finally {
      await cal.drop().catch(() => undefined)
    }
    const D = calRun.ms
    // A process connects shortly before its first revision: random terminations are spread from then on.
    const S = clean.firstStartMs ?? 0
    log(`${dialect}: a clean run takes ${D} ms (its first revision starts at ${S} ms); seed ${seed}`)

    for (let trial = 1; trial <= trials; trial++) {
      if (Date.now() - began > maxMs) {
        log(`${dialect}: stopping at the time limit after ${trial - 1} trials`)
        break
      }
      const issues = []
      const t0 = Date.now()
      const events = []
      const ev = (m) => events.push(`+${String(Date.now() - t0).padStart(6)} ms  ${m}`)
      const db = await impl.create(serverUrl, admin, trial, scratch)
      const options = { ...db.options, dir }
      try {
        const expectedFingerprint = await impl.fingerprint(db)
        // 'kill': SIGKILL inside 0010; 'other': the dialect's other fault inside 0010 (see forceDirtyFirst).
        const directed = forceDirtyFirst && trial <= 2 ? (trial === 1 ? 'kill' : 'other') : undefined
        // Sometimes the database is already part-way: an earlier deploy applied a prefix.
        if (!directed && random.next() < 0.2) {
          const to = random.pick(ids.slice(0, 15).filter((id) => id !== NO_TX))
          ev(`pre-migration to ${to}`)
          const pre = await wait(start({ ...options, to }, 'pre', ev), 120_000, 'the pre-migration', trial)
          if (pre.code !== 0) issues.push(`pre-migration to ${to} failed: ${pre.error?.code} ${pre.error?.message ?? pre.out.slice(-300)}`)
          stats.prefixed++
        }

        // The faults. Every choice is drawn here, before anything runs, so that a seed replays them.
        const k = directed ? 1 : random.pick([1, 1, 1, 2, 2, 3])
        const sameInstant = random.next() < 0.3
        const shared = random.between(0, 1.1 * D)
        const plans = Array.from({ length: k }, () => {
          const r = random.next()
          const inNoTx = random.between(0, 500)
          const afterLock = random.between(0, 40)
          const at = sameInstant ? shared : random.between(0, 1.1 * D)
          const sig = !server && random.next() < 0.35 ? 'SIGTERM' : 'SIGKILL'
          if (directed === 'kill') return { fault: 'SIGKILL', in0010: random.between(30, 200) }
          if (directed === 'other') return { fault: server ? 'drop' : 'SIGTERM', in0010: random.between(30, 200) }
          if (my) {
            // As on PostgreSQL (KILL CONNECTION for pg_terminate_backend), plus SIGTERM (stop()) inside 0010 or at random.
            if (r < 0.15) return { fault: 'SIGKILL', in0010: inNoTx }
            if (r < 0.3) return { fault: 'drop', in0010: inNoTx }
            if (r < 0.4) return { fault: 'drop', afterLock }
            if (r < 0.45) return { fault: 'SIGTERM', in0010: inNoTx }
            if (r < 0.55) return { fault: 'SIGTERM', at }
            if (r < 0.65) return { fault: 'none' }
            return { fault: 'SIGKILL', at }
          }
          if (pg) {
            // SIGKILL inside 0010, the process's own connection terminated inside 0010, or right after it took the
            // lock (reading the history under the lock, creating the history table, its first revision: a window
            // of a few ms that random instants seldom hit), no signal at all (only the trial's random
            // terminations below reach it), or SIGKILL at a random instant.
            if (r < 0.15) return { fault: 'SIGKILL', in0010: inNoTx }
            if (r < 0.3) return { fault: 'drop', in0010: inNoTx }
            if (r < 0.4) return { fault: 'drop', afterLock }
            if (r < 0.55) return { fault: 'none' }
            return { fault: 'SIGKILL', at }
          }
          return r < 0.2 ? { fault: sig, in0010: inNoTx } : { fault: sig, at }
        })
        // PostgreSQL: one to three instants at which a random boot-migrate session of the database is terminated,
        // between shortly before the first revision of a clean run and a little after its end.
        const drops =
          server && !directed
            ? Array.from({ length: random.pick([1, 1, 2, 3]) }, () => ({ at: sameInstant && random.next() < 0.5 ? shared : random.between(0.7 * S, 1.1 * D), u: random.next() }))
            : []
        ev(
          `plan: ${k} process(es)${sameInstant ? `, shared instant ${Math.round(shared)} ms` : ''}: ` +
            plans
              .map(
                (p, i) =>
                  `P${i + 1} ${p.fault}${p.in0010 !== undefined ? ` ${Math.round(p.in0010)} ms after START ${NO_TX}` : p.afterLock !== undefined ? ` ${Math.round(p.afterLock)} ms after it takes the lock` : p.at !== undefined ? ` at ${Math.round(p.at)} ms` : ''}`,
              )
              .join('; ') +
            (drops.length ? `; terminate a random session at ${drops.map((d) => `${Math.round(d.at)} ms`).join(', ')}` : ''),
        )

        const procs = []
        const timers = []
        const pending = []
        let over = false
        const later = (ms, fn) => timers.push(setTimeout(() => over || fn(), ms))
        /** Terminates a session (of `target`, or a random one) unless the kill phase is over. */
        const drop = (why, u, target) => {
          if (over) return
          stats.drops.attempts++
          pending.push(
            (impl.terminate ? impl.terminate(db, u, target, procs) : terminateOne(db.sql, u, target?.pid)).then(
              (row) => {
                if (!row) {
                  stats.drops.noSession++
                  ev(`terminate (${why}): no boot-migrate session${target ? ` of ${target.name}` : ''} in the database`)
                  return
                }
                const owner = procs.find((p) => row.application_name.endsWith(`:${p.pid}`))
                if (row.ok) {
                  stats.drops.terminated++
                  owner?.drops.push(row.pid)
                }
                ev(
                  `terminate (${why}): backend ${row.pid} of ${owner?.name ?? 'an unknown process'} [${row.application_name}], ${row.state}: "${row.query}"` +
                    ` (1 of ${row.n}; ${owner ? (owner.current ? `it last started ${owner.current}` : 'it had started no revision') : ''}) → ${row.ok ? 'terminated' : 'pg_terminate_backend returned false'}`,
                )
              },
              (e) => issues.push(`the harness could not terminate a session: ${e?.message ?? e}`),
            ),
          )
        }
        for (const [i, plan] of plans.entries()) {
          const p = start(options, `P${i + 1}`, ev)
          procs.push(p)
          const act = () => (plan.fault === 'drop' ? drop(`${p.name}'s connection`, 0, p) : p.signal(plan.fault))
          if (plan.in0010 !== undefined) p.when(`START ${NO_TX}`, () => later(plan.in0010, act))
          else if (plan.afterLock !== undefined) p.when('LOCKED', () => later(plan.afterLock, act))
          else if (plan.at !== undefined) later(plan.at, act)
        }
        for (const d of drops) later(d.at, () => drop('random', d.u))
        const runs = await Promise.all(procs.map((p) => wait(p, 120_000, 'a migrating process', trial)))
        over = true
        timers.forEach(clearTimeout)
        await Promise.all(pending)
        stats.processes += k
        stats.killed += procs.filter((p) => p.killed).length
        stats.stopped += procs.filter((p) => p.stopped).length
        for (const [i, r] of runs.entries()) {
          const p = procs[i]
          const code = r.error?.code
          const o = stats.outcomes
          if (p.killed) o.killed++
          else if (r.code === 0) o.succeeded++
          else if (code === 'DIRTY') o.dirty++
          else if (code === 'CONNECTION_LOST') {
            o.connectionLost++
            if (r.error.revision === NO_TX || impl.stepped?.includes(r.error.revision)) o.connectionLostIn0010++
            else if (/could not be read/.test(r.error.message)) o.connectionLostUnconfirmed++
          } else if (code === 'ABORTED') o.aborted++
          else o.other++
          issues.push(...outcomeIssues(r, p))
        }

        // Half the time, look at the database once the killed processes' sessions are gone.
        const settleFirst = directed !== undefined || random.next() < 0.5
        if (settleFirst) {
          stats.settledFirst++
          if (!(await impl.settle(db))) issues.push('sessions of killed processes still connected after 15 s')
          issues.push(...consistency(await impl.state(db), 'after the kills'))
        }
        // Invariant 4 for the processes that ended on their own (after CONNECTION_LOST, ABORTED, DIRTY …): they
        // freed the lock. Checked now, because the fresh process would take a folder left behind over silently.
        if (settleFirst || !server) {
          const held = await impl.lockHeld(db, procs.filter((p) => p.killed).map((p) => p.pid))
          if (typeof held === 'string') issues.push(`after the kill phase: ${held}`)
        }
        // The history as it is now; a "running" row can only go away through resolve, never by itself.
        const before = await impl.state(db)
        const applied = ids.filter((id) => before.history.get(id) === 'applied').length
        stats.afterKills[applied === 0 ? 'none' : applied === ids.length ? 'all' : 'some']++
        // The dirty revision: 0010 on PostgreSQL and SQLite; any revision with DDL on MySQL.
        const DIRTY_ID = [...before.history].find(([, state]) => state === 'running')?.[0] ?? NO_TX
        const dirtyKnown = before.history.get(DIRTY_ID) === 'running'
        ev(`after the kill phase: ${applied} applied${dirtyKnown ? `, ${DIRTY_ID} running (dirty, ${before.steps?.get(DIRTY_ID)?.recorded ?? '?'} statement(s) recorded)` : ''}`)
        for (const [i, r] of runs.entries()) {
          if (procs[i].killed) continue
          const otherStarted = procs.some((q, j) => j !== i && q.started.includes(r.error?.revision))
          issues.push(...lostReportIssues(procs[i].name, r.error, before, { otherStarted }))
        }

        // A fresh process, as the restarted pod.
        const fresh = start(options, 'fresh', ev)
        const f = await wait(fresh, 180_000, 'the fresh process', trial)
        if (!(await impl.settle(db))) issues.push('sessions still connected 15 s after the fresh process ended')
        const afterFresh = await impl.state(db)
        issues.push(...consistency(afterFresh, 'after the fresh run'))
        if (f.code === 0) {
          if (dirtyKnown) issues.push(`the fresh run succeeded although ${DIRTY_ID} was dirty: it was run again or skipped silently`)
        } else if (f.error?.code === 'DIRTY') {
          stats.dirty++
          const id = f.error.revision ?? DIRTY_ID
          if (afterFresh.history.get(id) !== 'running') issues.push(`DIRTY reported but ${id} is ${afterFresh.history.get(id) ?? 'not recorded'}`)
          if (fresh.started.includes(id)) issues.push(`the fresh run started the dirty revision ${id} again`)
          if (settleFirst && (afterFresh.nt.start !== before.nt.start || afterFresh.nt.end !== before.nt.end))
            issues.push(`the dirty revision's statements ran again (${JSON.stringify(before.nt)} → ${JSON.stringify(afterFresh.nt)})`)
          if (!f.error.message.includes(id)) issues.push(`the DIRTY message does not name ${id}: ${f.error.message}`)
          if (impl.stepped) {
            // MySQL: what the message offers first, resolve --resume (it checks the recorded statements and runs the rest).
            const e = await createMigrator({ ...options, logger: false })
              .resolve(id, 'resume')
              .then(() => null, (err) => err)
            const afterResume = await impl.state(db)
            ev(`operator: resolve ${id} --resume (${afterFresh.steps?.get(id)?.recorded ?? '?'} statement(s) recorded) → ${e ? `${e.code}: ${e.message.slice(0, 300)}` : 'ok'}`)
            if (e) {
              stats.resumeFailed++
              issues.push(`resolve ${id} --resume failed: ${e.code} ${e.message.slice(0, 400)}`)
              // By hand, as the message's second way out says: complete what is missing, then resolve applied.
              if (afterResume.history.get(id) === 'running') {
                await impl.completeByHand(db, afterResume, id)
                await createMigrator({ ...options, logger: false }).resolve(id, 'applied')
                stats.resolvedApplied++
              }
            } else {
              stats.resumed++
              if (afterResume.history.get(id) !== 'applied') issues.push(`resolve ${id} --resume succeeded but ${id} is ${afterResume.history.get(id) ?? 'not recorded'}`)
            }
            issues.push(...consistency(afterResume, `after resolve ${id} --resume`))
          } else {
            // What the operator does: look, complete or undo, then resolve.
            const outcome = await impl.repair(db, afterFresh)
            ev(`operator: nt_log ${JSON.stringify(afterFresh.nt)}, index ${afterFresh.index} → resolve ${NO_TX} ${outcome}`)
            stats[outcome === 'applied' ? 'resolvedApplied' : 'resolvedRolledBack']++
            await createMigrator({ ...options, logger: false }).resolve(NO_TX, outcome)
          }
        } else {
          issues.push(`the fresh run failed: ${f.error?.code ?? `exit ${f.code}`} ${f.error?.message ?? f.out.slice(-300)}`)
        }

        // The final run: must succeed, with everything in place.
        const last = await wait(start(options, 'final', ev), 180_000, 'the final process', trial)
        if (last.code !== 0) issues.push(`the final run failed: ${last.error?.code ?? `exit ${last.code}`} ${last.error?.message ?? last.out.slice(-300)}`)
        const settled = await impl.settle(db)
        const killedPids = procs.filter((p) => p.killed).map((p) => p.child.pid)
        let lock = await impl.lockHeld(db, killedPids)
        if (lock?.leftByKilled) {
          // A killed process's lock folder, which no later run needed: the next process that needs the lock must
          // take it over once stale and free it. resolve() takes the lock, finds nothing dirty and lets go.
          stats.staleLockFolders++
          ev('a lock folder of a killed process is left: taking it over')
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
      if (issues.length || logEvents) eventLogs[trial] = events
      if (issues.length) log(`${dialect} trial ${trial}: ${issues.length} violation(s):\n  ${issues.join('\n  ')}\n  event log:\n    ${events.join('\n    ')}`)
      else if (logEvents) log(`${dialect} trial ${trial}: ok\n    ${events.join('\n    ')}`)
      else if (trial % 20 === 0) log(`${dialect}: ${trial} trials, ${violations.length} violations so far (${Math.round((Date.now() - began) / 1000)} s)`)
    }
  } finally {
    if (my) await admin?.end().catch(() => undefined)
    else await admin?.end({ timeout: 1 })
    rmSync(scratch, { recursive: true, force: true })
  }
  return { dialect, seed, trials: stats.trials, violations, eventLogs, stats, durationMs: Date.now() - began }
}

/** A violation's message without what differs between trials (names, paths, numbers), to count them by kind. */
export function kindOf(message) {
  return message
    .replace(/postgres:\/\/\S+?\/bm_torture_\w+/g, '<db>')
    .replace(/\/tmp\/\S+/g, '<path>')
    .replace(/\bP\d+\b/g, 'P#')
    .replace(/\d+/g, '#')
    .slice(0, 200)
}

export function summary(r) {
  const s = r.stats
  const o = s.outcomes
  const faults =
    r.dialect === 'postgres'
      ? `${s.killed} killed with SIGKILL; ${s.drops.terminated} connections terminated (pg_terminate_backend; ${s.drops.attempts} attempts, ${s.drops.noSession} found no session)`
      : r.dialect === 'mysql'
        ? `${s.killed} killed with SIGKILL (or SIGTERM before the handler), ${s.stopped} sent SIGTERM; ${s.drops.terminated} connections killed (KILL CONNECTION; ${s.drops.attempts} attempts, ${s.drops.noSession} found no session)`
        : `${s.killed} killed (SIGKILL, or SIGTERM before the handler), ${s.stopped} sent SIGTERM`
  return (
    `${r.dialect}: ${r.trials} trials, ${r.violations.length} violations in ${Math.round(r.durationMs / 1000)} s (seed ${r.seed}). ` +
    `${s.processes} migrating processes, ${faults}; ` +
    `they ended: ${o.succeeded} succeeded, ${o.killed} killed, ${o.dirty} DIRTY, ${o.connectionLost} CONNECTION_LOST (${o.connectionLostIn0010} in ${r.dialect === 'mysql' ? 'a revision run statement by statement' : NO_TX}, leaving it dirty; ${o.connectionLostUnconfirmed} in a transaction whose outcome the history could not confirm), ${o.aborted} ABORTED, ${o.other} otherwise; ` +
    `after the kills ${s.afterKills.none} databases had nothing applied, ` +
    `${s.afterKills.some} were part-way, ${s.afterKills.all} complete; ${s.dirty} dirty (resolved: ${r.dialect === 'mysql' ? `${s.resumed} resumed, ${s.resumeFailed} resumes failed, ` : ''}${s.resolvedApplied} applied, ${s.resolvedRolledBack} rolled back); ` +
    `${s.prefixed} started from a part-migrated database; ${s.settledFirst} inspected before the fresh run; ` +
    `${s.staleLockFolders} lock folders left by killed processes and no later run, taken over once stale.`
  )
}

/** Whether a MySQL/MariaDB server answers at `url`. */
async function mysqlReachable(url) {
  try {
    const mysql = (await import('mysql2/promise')).default
    const c = await mysql.createConnection({ uri: url, connectTimeout: 3000 })
    await c.end()
    return true
  } catch {
    return false
  }
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
  const mysqlUrl = process.env.TORTURE_MYSQL_URL ?? process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test'
  for (const dialect of opt('dialect', 'postgres,sqlite,mysql').split(',')) {
    if (dialect === 'mysql' && !(await mysqlReachable(mysqlUrl))) {
      console.log(`mysql: skipped: no MySQL/MariaDB server at ${mysqlUrl.replace(/\/\/[^@/]*@/, '//…@')} (set TORTURE_MYSQL_URL or TEST_MYSQL_URL)`)
      continue
    }
    const r = await runTorture({ dialect, trials, serverUrl: dialect === 'mysql' ? mysqlUrl : serverUrl, seed, maxMs, log: (m) => console.error(m), events: args.includes('--events') })
    results.push(r)
    console.log(summary(r))
    const kinds = new Map()
    for (const v of r.violations) kinds.set(kindOf(v.message), [...(kinds.get(kindOf(v.message)) ?? []), v.trial])
    for (const [kind, ts] of kinds) console.log(`  ${ts.length}× (trials ${[...new Set(ts)].join(', ')}): ${kind}`)
    for (const v of r.violations) console.log(`  trial ${v.trial}: ${v.message}`)
    for (const t of new Set(r.violations.map((v) => v.trial)))
      if (r.eventLogs[t]) console.log(`  trial ${t}, event log:\n    ${r.eventLogs[t].join('\n    ')}`)
  }
  const total = results.reduce((a, r) => a + r.violations.length, 0)
  const ran = results.reduce((a, r) => a + r.trials, 0)
  console.log(`${total ? 'torture: FAILED' : 'torture: ok'}: ${ran} trials, ${total} violations`)
  process.exitCode = total ? 1 : 0
}
