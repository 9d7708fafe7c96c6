// SQLite under real faults: another process holding the write lock in the middle of a no-transaction
// revision, SIGTERM while a revision runs, and connection settings (PRAGMA) a revision changes.
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { captureLog, revisions } from '../helpers.js'
import { freshFile, open, tables } from '../sqlite-helpers.js'
import { outcome, startNode, waitFor, within, workers } from './helpers.js'

/** A read that takes about a second or more: counts to the knob with a recursive CTE. */
const slowRead = 'select count(*) from (with recursive c(x) as (select 1 union all select x + 1 from c where x < (select n from knob)) select x from c);'

describe('SQLite: SQLITE_BUSY on a later statement of a no-transaction revision', () => {
  it('retries only that statement once the other writer is gone: applied, statement 1 ran exactly once', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_tables.sql': '-- migrate:up\ncreate table log (x int);\ncreate table t (x int);\ncreate table knob (n int);\ninsert into knob values (2000000);\n',
      // Statement 1 writes log; statement 2 only reads (slowly: the other process takes the write lock
      // meanwhile, which a reader allows); statement 3 writes t and meets that lock.
      '0002_steps.sql': `-- migrate:up\n-- migrate:no-transaction\ninsert into log values (1);\n${slowRead}\ninsert into t values (1);\n`,
    })
    const blocker = startNode(workers.sqliteBlocker, {}, {
      BM_FILE: file,
      // Statement 1 of 0002 has run (its row in log and the 'running' history row are there).
      BM_BLOCK_WHEN: "select (select count(*) from log) = 1 and (select state from boot_migrate_history where id = '0002') = 'running'",
      BM_BLOCK_PROBE: 'select (select count(*) from t) as t_rows',
    })
    const log = captureLog()
    const run = outcome(createMigrator({ url: `sqlite:${file}`, dir, ddlLockTimeout: 100, logger: log.logger }).run())
    let settled = false
    void run.then(() => (settled = true))
    try {
      await blocker.printed('LOCKED')
      // Hold the write lock until the migrator has met it and says it will retry (or has given up).
      await waitFor('the migrator to log a retry of the blocked statement', () => settled || /retry/i.test(log.text())).catch((e: Error) => {
        throw new Error(`${e.message}\n--- migrator log ---\n${log.text()}`)
      })
    } finally {
      blocker.child.kill('SIGUSR2')
    }
    const held = await blocker.exited()
    const result = await within('run()', run)

    // The other process took the write lock before statement 3 ran: the conflict was real.
    expect(held.stdout).toContain('LOCKED {"t_rows":0}')
    expect(log.text()).toMatch(/retry/i)
    expect(result.error, log.text()).toBeUndefined()
    const db = open(file)
    expect(db.prepare('select x from log').pluck().all()).toEqual([1])
    expect(db.prepare('select x from t').pluck().all()).toEqual([1])
    expect(db.prepare('select id, state from boot_migrate_history order by id').all()).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })
})

describe('SQLite: SIGTERM to an app whose handler calls migrator.stop(), during the first of three revisions', () => {
  it('exits with ABORTED and applies at most the first revision, never all three', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_heavy.sql':
        '-- migrate:up\ncreate table knob (n int);\ninsert into knob values (5000000);\ncreate table heavy (n int);\n' +
        `insert into heavy ${slowRead.replace(/;$/, '')};\n`,
      '0002_second.sql': '-- migrate:up\ncreate table second (x int);\n',
      '0003_third.sql': '-- migrate:up\ncreate table third (x int);\n',
    })
    const worker = startNode(workers.stopOnSigterm, { url: `sqlite:${file}`, dir })
    await worker.printed('applying 0001_heavy')
    worker.child.kill('SIGTERM')
    const run = await worker.exited()

    expect(run.signal, run.stdout).toBeNull()
    expect(run.code, run.stdout).toBe(1)
    expect(run.error, run.stdout).toMatchObject({ code: 'ABORTED' })
    const db = open(file)
    const applied = (db.prepare('select id from boot_migrate_history order by id').pluck().all() as string[]).filter(Boolean)
    expect([[], ['0001']]).toContainEqual(applied)
    expect(tables(db)).not.toContain('second')
    expect(tables(db)).not.toContain('third')
    // 0001 is all there or not at all.
    if (applied.length) expect(db.prepare('select n from heavy').pluck().all()).toEqual([5000000])
    else expect(tables(db)).not.toContain('heavy')
  })
})

describe('SQLite: connection settings a revision changes do not leak', () => {
  /** 0002 fires a trigger that inserts into its own table: 1 and 2 without recursive triggers, 1..5 with them. */
  const trigger =
    '-- migrate:up\ncreate table c (n int);\n' +
    'create trigger c_next after insert on c when new.n < 5 begin insert into c values (new.n + 1); end;\n' +
    'insert into c values (1);\n'

  it('PRAGMA recursive_triggers = 1 in 0001 is not in effect for 0002', async () => {
    const file = await freshFile()
    const dir = await revisions({ '0001_pragma.sql': '-- migrate:up\nPRAGMA recursive_triggers = 1;\n', '0002_trigger.sql': trigger })
    await createMigrator({ url: `sqlite:${file}`, dir, logger: false }).run()
    expect(open(file).prepare('select n from c order by n').pluck().all()).toEqual([1, 2])
  })

  it("PRAGMA recursive_triggers = 1 in a revision does not change the app's own connection", async () => {
    const file = await freshFile()
    const app = open(file)
    const dir = await revisions({ '0001_pragma.sql': '-- migrate:up\nPRAGMA recursive_triggers = 1;\n' })
    await createMigrator({ client: app, dir, logger: false }).run()
    expect(app.pragma('recursive_triggers', { simple: true })).toBe(0)
  })
})
