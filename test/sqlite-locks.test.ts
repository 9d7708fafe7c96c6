import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrationError } from '../src/index.js'
import { eventually } from './contract/support.js'
import { revisions, root, startWorker, type WorkerRun } from './helpers.js'
import { freshFile, open, tables, tempDir } from './sqlite-helpers.js'

const quiet = { logger: false as const }
const fail = (p: Promise<unknown>) => p.then(() => expect.unreachable('the run should have failed'), (e: unknown) => e as MigrationError)
const ok = (run: WorkerRun) => {
  expect(run.error, run.stdout).toBeUndefined()
  expect(run.code, run.stdout).toBe(0)
  return run.result!
}

/** A JS revision that blocks its process's event loop for as long as the `knob` table says, inside its transaction. */
const spin =
  "export async function up({ exec, query }) {\n" +
  "  await exec('create table spun (x int)')\n" +
  "  const [{ ms }] = await query('select ms from knob')\n" +
  '  const end = Date.now() + ms\n' +
  '  while (Date.now() < end) {}\n' +
  "  await exec('insert into spun values (1)')\n" +
  '}\n'

describe('the SQLite lock folder across processes', () => {
  it('a process killed while writing leaves its rollback journal and lock folder; the next run rolls the journal back, takes the lock over and completes', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_knob.sql': '-- migrate:up\ncreate table knob (n int not null);\ninsert into knob values (50000000);\n',
      '0002_fill.sql':
        '-- migrate:up\ncreate table filled (x int not null);\n' +
        'insert into filled select x from (with recursive c(x) as (select 1 union all select x + 1 from c where x < (select n from knob)) select x from c);\n',
      '0003_after.sql': '-- migrate:up\ncreate table after_fill (x int);\n',
    })
    // A commit per revision, so that 0001 is committed when 0002 is killed (by default they share a transaction).
    const killed = startWorker({ url: `sqlite:${file}`, dir, transaction: 'each' })
    await killed.printed('applying 0002_fill')
    // Wait until it writes: its rollback journal exists.
    await expect.poll(() => existsSync(`${file}-journal`), eventually).toBe(true)
    killed.child.kill('SIGKILL')
    expect((await killed.done).signal).toBe('SIGKILL')
    // Killed in the middle of the write: the rollback journal is still there, and so is the lock folder.
    expect(existsSync(`${file}-journal`)).toBe(true)
    expect(existsSync(`${file}.lock`)).toBe(true)

    const db = open(file)
    expect(tables(db)).toEqual(['boot_migrate_history', 'knob'])
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(db.prepare('select id, state from boot_migrate_history').all()).toEqual([{ id: '0001', state: 'applied' }])
    db.prepare('update knob set n = 1000').run()
    db.close()

    const next = ok(await startWorker({ url: `sqlite:${file}`, dir, lockStale: 2000 }).done)
    expect(next.applied.map((a) => a.id)).toEqual(['0002', '0003'])
    const after = open(file)
    expect(after.prepare('select count(*) from filled').pluck().get()).toBe(1000)
    expect(after.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002', '0003'])
    expect(existsSync(`${file}.lock`)).toBe(false)
  })

  it('keeps the lock of a revision that blocks its process longer than lockStale: a process started meanwhile waits for it', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_knob.sql': '-- migrate:up\ncreate table knob (ms int not null);\ninsert into knob values (8000);\n', '0002_spin.mjs': spin })
    // lockStale well above the refresh interval (half of it): a loaded machine may delay one refresh by a second.
    const first = startWorker({ url: `sqlite:${file}`, dir, lockStale: 4000 })
    await first.printed('applying 0002_spin')
    const second = startWorker({ url: `sqlite:${file}`, dir, lockStale: 4000 })
    const [a, b] = [ok(await first.done), ok(await second.done)]
    expect(a.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(b).toMatchObject({ applied: [], upToDate: true, current: '0002' })
    expect(open(file).prepare('select count(*) from spun').pluck().get()).toBe(1)
  })

  it('honours a lock left by a killed process until lockStale has passed, then takes it over', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_knob.sql': '-- migrate:up\ncreate table knob (ms int not null);\ninsert into knob values (600000);\n', '0002_spin.mjs': spin })
    const killed = startWorker({ url: `sqlite:${file}`, dir })
    await killed.printed('applying 0002_spin')
    killed.child.kill('SIGKILL')
    await killed.done
    const owner = JSON.parse(readFileSync(join(`${file}.lock`, 'owner'), 'utf8')) as { pid: number }
    expect(owner.pid).toBe(killed.child.pid)

    const knob = open(file)
    knob.prepare('update knob set ms = 0').run()
    knob.close()

    const blocked = await startWorker({ url: `sqlite:${file}`, dir, lockStale: 60_000, lockTimeout: 1500 }).done
    expect(blocked.error?.code, blocked.stdout).toBe('LOCK_TIMEOUT')
    expect(blocked.error?.message).toContain(`pid ${killed.child.pid}`)

    const takeover = ok(await startWorker({ url: `sqlite:${file}`, dir, lockStale: 2000 }).done)
    expect(takeover.applied.map((r) => r.id)).toEqual(['0002'])
    const db = open(file)
    expect(db.prepare('select count(*) from spun').pluck().get()).toBe(1)
    expect(db.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002'])
  })

  it('applies a revision exactly once when its process is frozen past lockStale and another one takes the lock over', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_knob.sql': '-- migrate:up\ncreate table knob (ms int not null);\ninsert into knob values (3000);\n', '0002_spin.mjs': spin })
    const frozen = startWorker({ url: `sqlite:${file}`, dir, lockStale: 2000 })
    await frozen.printed('applying 0002_spin')
    frozen.child.kill('SIGSTOP')
    // The frozen process no longer refreshes its lock: once it is stale the newcomer takes it over, then waits for the
    // write lock the frozen process still holds, and says it will retry.
    const newcomer = startWorker({ url: `sqlite:${file}`, dir, lockStale: 2000, ddlLockTimeout: 1000 })
    await newcomer.printed('retry 1/')
    frozen.child.kill('SIGCONT')
    const runs = [await frozen.done, await newcomer.done]

    const succeeded = runs.filter((r) => r.result)
    const failed = runs.filter((r) => r.error)
    expect(succeeded, runs.map((r) => r.stdout).join('\n---\n')).toHaveLength(1)
    expect(succeeded[0]!.result!.applied.map((a) => a.id)).toContain('0002')
    expect(failed).toHaveLength(1)
    expect(failed[0]!.error!.code).toBe('MIGRATION_FAILED')
    expect(failed[0]!.error!.message).toMatch(/lock .*(lost|taken over)|taken over/)
    const db = open(file)
    expect(db.prepare('select count(*) from spun').pluck().get()).toBe(1)
    expect(db.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002'])
  })

  it("leaves the app's own SIGTERM handling alone after migrating a file", async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    // An app that shuts down gracefully on the first SIGTERM; the lock code must not turn the signal into a kill.
    const app = `import { migrate } from 'boot-migrate'
      const result = await migrate({ url: ${JSON.stringify(`sqlite:${file}`)}, dir: ${JSON.stringify(dir)}, logger: false })
      process.once('SIGTERM', () => { console.log('graceful shutdown after applying', result.applied.length); setTimeout(() => process.exit(0), 50) })
      setInterval(() => {}, 1000)
      process.kill(process.pid, 'SIGTERM')`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', app], { cwd: root, encoding: 'utf8' })
    expect(r.stdout + r.stderr).toContain('graceful shutdown after applying 1')
    expect(r.signal).toBeNull()
    expect(r.status).toBe(0)
  })
})

describe('databases that need no lock folder, and the lock options', () => {
  it('migrates an in-memory database given as a client without any lock file', async () => {
    const memory = new Database(':memory:')
    let lockFileDuringRevision: boolean | undefined
    const migrations = [
      {
        id: '0001',
        async up({ exec }: { exec(sql: string): Promise<void> }) {
          lockFileDuringRevision = existsSync(join(process.cwd(), ':memory:.lock'))
          await exec('create table a (x int); insert into a values (1);')
        },
      },
    ]
    const first = await createMigrator({ client: memory, migrations, ...quiet }).run()
    expect(first.applied.map((r) => r.id)).toEqual(['0001'])
    expect(lockFileDuringRevision).toBe(false)
    expect(memory.prepare('select x from a').pluck().all()).toEqual([1])
    const second = await createMigrator({ client: memory, migrations, ...quiet }).run()
    expect(second).toMatchObject({ applied: [], upToDate: true })
    memory.close()
  })

  it('lets one of two migrators on the same in-memory client apply and the other find it done', async () => {
    const dir = await revisions({
      '0001_slow.mjs': "export async function up({ exec }) {\n  await new Promise((r) => setTimeout(r, 300))\n  await exec('create table a (x int)')\n}\n",
    })
    const memory = new Database(':memory:')
    const [a, b] = await Promise.all([createMigrator({ client: memory, dir, ...quiet }).run(), createMigrator({ client: memory, dir, ...quiet }).run()])
    expect([a.applied.length, b.applied.length].sort()).toEqual([0, 1])
    expect(memory.prepare('select count(*) from boot_migrate_history').pluck().get()).toBe(1)
    memory.close()
  })

  it('rejects a lockStale below 2000 ms, the least a refresh every second can keep fresh', async () => {
    const dir = await tempDir()
    const error = await fail(createMigrator({ url: `sqlite:${join(dir, 'a.db')}`, dir, lockStale: 500, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(error.message).toContain('lockStale')
  })
})
