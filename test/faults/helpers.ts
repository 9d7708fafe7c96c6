// Shared helpers of the fault-injection suite: polling the database for a condition, what a user would
// look at afterwards (advisory locks, migration sessions, history rows), worker processes with a bounded
// exit, and a PostgreSQL of the test's own that can be restarted with its data kept.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type postgres from 'postgres'
import { onTestFinished } from 'vitest'
import { root } from '../helpers.js'
import { startEmbeddedPostgres } from '../setup/embedded-postgres.mjs'

type Sql = postgres.Sql<Record<string, postgres.PostgresType>>

export const workers = {
  /** `createMigrator(options).run()`, prints `RESULT {json}` or `ERROR {json}` (the suite's existing worker). */
  run: join(root, 'test/workers/migrate.mjs'),
  /** `start()` with a SIGTERM handler that calls `stop()`, then prints the outcome of `ready`. */
  stopOnSigterm: join(root, 'test/faults/workers/stop-on-sigterm.mjs'),
  /** Holds `BEGIN IMMEDIATE` on a SQLite file once a condition holds, until SIGUSR2. */
  sqliteBlocker: join(root, 'test/faults/workers/sqlite-blocker.mjs'),
}

const describeValue = (v: unknown) => {
  try {
    return typeof v === 'string' ? v : JSON.stringify(v)
  } catch {
    return String(v)
  }
}

/**
 * Polls `check` until it returns a truthy value, which it returns. Errors thrown by `check` count as
 * "not yet" (a server that is restarting). After `timeout` ms it fails naming `what` and the last value.
 * The deadline is a bound on a hang, not a speed requirement: keep it generous.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, { timeout = 15_000, every = 50 } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v as NonNullable<T>
      last = v
    } catch (e) {
      last = e instanceof Error ? `${e.name}: ${e.message}` : e
    }
    if (Date.now() > deadline) throw new Error(`gave up after ${timeout} ms waiting for ${what}; last seen: ${describeValue(last)}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

export type Outcome<T> = { ok: true; value: T; error?: undefined } | { ok: false; error: Error & { code?: string }; value?: undefined }

/** A promise's outcome as a value, so a rejection can be inspected (and is never unhandled). */
export const outcome = <T>(p: Promise<T>): Promise<Outcome<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: Error & { code?: string }) => ({ ok: false as const, error }),
  )

/**
 * `p`, or a failure naming `what` when it has not settled after `ms`: a guard for calls that must end at
 * all under a fault (stop(), a run whose connection died), so a hang fails the test with a reason.
 */
export async function within<T>(what: string, p: Promise<T>, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (hung)`)), ms)
  })
  try {
    return await Promise.race([p, hang])
  } finally {
    clearTimeout(timer)
  }
}

/** Advisory locks granted in the client's current database (the server is shared with other suites). */
export const advisoryLocks = (sql: Sql) =>
  sql<Array<{ pid: number; application_name: string | null }>>`
    select l.pid, a.application_name
      from pg_locks l left join pg_stat_activity a on a.pid = l.pid
     where l.locktype = 'advisory' and l.granted
       and l.database = (select oid from pg_database where datname = current_database())`

/** The migrator's sessions (application_name `boot-migrate …`) in the client's current database. */
export const migrationBackends = (sql: Sql) =>
  sql<Array<{ pid: number; application_name: string; state: string | null; query: string }>>`
    select pid, application_name, state, query
      from pg_stat_activity
     where datname = current_database() and application_name like 'boot-migrate%' and pid <> pg_backend_pid()`

/** The migration backend running a statement that matches `pattern` right now (e.g. /pg_sleep/). */
export const backendRunning = async (sql: Sql, pattern: RegExp, applicationName?: string) =>
  (await migrationBackends(sql)).find(
    (b) => b.state === 'active' && pattern.test(b.query) && (applicationName === undefined || b.application_name === `boot-migrate ${applicationName}`),
  )

/**
 * Waits until nothing of a migrator is left on the server: no advisory lock and no boot-migrate session
 * idle in a transaction. (A closed connection's backend exits asynchronously: this polls for it.)
 */
export async function noMigrationLeftovers(sql: Sql, timeout = 10_000) {
  await waitFor(
    'no advisory lock and no boot-migrate session idle in transaction',
    async () => {
      const locks = await advisoryLocks(sql)
      const idle = (await migrationBackends(sql)).filter((b) => b.state?.startsWith('idle in transaction'))
      return locks.length === 0 && idle.length === 0 ? true : { locks, idle }
    },
    { timeout },
  ).catch(async (e: Error) => {
    throw new Error(`${e.message}\nadvisory locks: ${JSON.stringify(await advisoryLocks(sql))}\nsessions: ${JSON.stringify(await migrationBackends(sql))}`)
  })
}

/** `id state` of every history row, oldest id first; [] when the history table does not exist. */
export async function history(sql: Sql, table = 'boot_migrate_history'): Promise<Array<{ id: string; state: string }>> {
  try {
    return [...(await sql.unsafe<Array<{ id: string; state: string }>>(`select id, state from ${table} order by id`))]
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return []
    throw e
  }
}

/** The values of column x in a table, sorted; null when the table does not exist. */
export async function column(sql: Sql, table: string, col = 'x'): Promise<unknown[] | null> {
  try {
    return (await sql.unsafe<Array<{ v: unknown }>>(`select ${col} as v from ${table} order by 1`)).map((r) => r.v)
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return null
    throw e
  }
}

export async function rowCount(sql: Sql, table: string): Promise<number | null> {
  try {
    const [r] = await sql.unsafe<Array<{ n: number }>>(`select count(*)::int as n from ${table}`)
    return r!.n
  } catch (e) {
    if ((e as { code?: string }).code === '42P01') return null
    throw e
  }
}

/**
 * Collects uncaught exceptions and unhandled rejections of this test process while a test runs: the
 * migrator must report faults through its promises, never crash the app that boots it.
 */
export function watchCrashes() {
  const seen: unknown[] = []
  const record = (e: unknown) => void seen.push(e)
  process.on('uncaughtException', record)
  process.on('unhandledRejection', record)
  onTestFinished(() => {
    process.off('uncaughtException', record)
    process.off('unhandledRejection', record)
  })
  return {
    seen,
    describe: () => seen.map((e) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e))).join('\n'),
  }
}

export interface NodeRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  result?: { applied: Array<{ id: string }>; upToDate: boolean; current: string | null }
  error?: { code: string; message: string }
}

/**
 * Starts `node <script>` with `BM_OPTIONS` (and extra env). stdout and stderr are collected together;
 * `exited(ms)` waits for the exit and, past `ms`, kills the process and fails naming what it printed.
 */
export function startNode(script: string, options: Record<string, unknown>, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, BM_OPTIONS: JSON.stringify(options), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stdout += d))
  let closed = false
  // 'close' (not 'exit'): the process has exited and everything it printed has been read.
  const done = new Promise<NodeRun>((resolve) =>
    child.on('close', (code, signal) => {
      closed = true
      const line = (tag: string) => stdout.split('\n').find((l) => l.startsWith(tag))?.slice(tag.length)
      const r = line('RESULT ')
      const e = line('ERROR ')
      resolve({ code, signal, stdout, ...(r ? { result: JSON.parse(r) } : {}), ...(e ? { error: JSON.parse(e) } : {}) })
    }),
  )
  onTestFinished(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')))
  /** Resolves when the process has printed `text`; fails as soon as it exits without, or after `timeout`. */
  const printed = async (text: string, timeout = 20_000) => {
    await waitFor(
      `the worker to print "${text}"`,
      () => stdout.includes(text) || closed,
      { timeout, every: 20 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- worker output ---\n${stdout}`)
    })
    if (!stdout.includes(text)) throw new Error(`the worker exited without printing "${text}":\n${stdout}`)
  }
  const exited = async (ms = 20_000): Promise<NodeRun> => {
    try {
      return await within('the worker process', done, ms)
    } catch (e) {
      child.kill('SIGKILL')
      throw new Error(`${(e as Error).message}; killed it. Output:\n${stdout}`)
    }
  }
  return { child, done, printed, exited, output: () => stdout }
}

/** A stack trace in a process's output: the mark of a crash rather than a reported error. */
export const crashed = (output: string) => /^\s+at .+[:(].*\d+:\d+\)?$/m.test(output) || /Uncaught|unhandled|node:internal/i.test(output)

export interface OwnPostgres {
  /** `postgres://postgres:postgres@127.0.0.1:<port>/postgres` */
  url: string
  /** A new empty database on this server. */
  database(): Promise<string>
  /** Stops the server (fast shutdown: every session is terminated) and starts it again on the same port, data kept. */
  restart(): Promise<void>
  /** Stops the server for good and removes its data. */
  stop(): Promise<void>
}

/**
 * A PostgreSQL of the test file's own that can be restarted with its data kept (the suite's embedded
 * server, owned by a child process so that it goes even if the test process dies). Call `stop()` in the
 * file's afterAll.
 */
export async function ownPostgres(): Promise<OwnPostgres> {
  // A throwaway server: a clean shutdown is all the durability a restart needs. One file's tests need
  // few connections.
  const server = await startEmbeddedPostgres(undefined, {
    settings: { max_connections: 60, fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  })
  const { url } = server
  const { default: postgresJs } = await import('postgres')
  return {
    url,
    async database() {
      const admin = postgresJs(url, { max: 1, onnotice: () => undefined })
      const name = `bm_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
      try {
        await admin.unsafe(`create database "${name}"`)
      } finally {
        await admin.end({ timeout: 1 })
      }
      const u = new URL(url)
      u.pathname = `/${name}`
      return u.toString()
    },
    restart: server.restart,
    stop: server.stop,
  }
}
