// Per-statement progress of a no-transaction revision: a process killed (kill -9) at every statement boundary,
// or a statement that fails, leaves the revision dirty with its completed statements recorded; the next boot
// names the statement and the two ways out; `resolve --resume` reaches the schema of a clean run.
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { statementHash } from '../../src/core/history.js'
import { startNode } from '../faults/helpers.js'
import { revisions, root } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type Target, type TestDatabase } from './targets.js'

const killAt = join(root, 'test/workers/kill-at.mjs')
/** After a kill: PostgreSQL frees the lock with the session; a SQLite lock folder is taken over once stale. */
const after = { lockTimeout: 60_000, lockStale: 2000, ...quiet }

/** Five statements outside a transaction, one per line from line 3 of the file. */
const five = (t: Target) =>
  [
    '-- migrate:up',
    '-- migrate:no-transaction',
    'create table p1 (x int);',
    'insert into p1 values (1);',
    `${t.sql.buildIndex('p1_x', 'p1', 'x')};`,
    'alter table p1 add column y int;',
    'create table p5 (x int);',
    '-- migrate:down',
    'drop table p5;',
    'drop table p1;',
    '',
  ].join('\n')
const LINE = (k: number) => k + 2

const files = (t: Target) => ({
  '0001_base.sql': '-- migrate:up\ncreate table base (x int);\n',
  '0002_five.sql': five(t),
  '0003_after.sql': '-- migrate:up\ncreate table after_it (x int);\n-- migrate:down\ndrop table after_it;\n',
})

const EXCLUDE = ['boot_migrate_history', 'boot_migrate_history_progress']
const progress = async (db: TestDatabase) => (await db.query<{ step: number; hash: string }>('select step, hash from boot_migrate_history_progress order by step')).map((r) => Number(r.step))
const historyRows = (db: TestDatabase) => db.query('select id, state from boot_migrate_history order by id')

/** Runs the folder in a process that kills itself with SIGKILL just before statement k of 0002 is sent. */
async function killedBefore(db: TestDatabase, dir: string, k: number) {
  const worker = startNode(killAt, { url: db.url, dir }, { BM_KILL_AT: `0002_five: statement ${k}/5` })
  const run = await worker.exited()
  expect(run.signal, run.stdout).toBe('SIGKILL')
}

// Killing a migrator with SIGKILL needs it in a second process: those tests do not apply to PGlite (`processes: false`).
describe.each(targets)('per-statement progress of no-transaction revisions ($label)', (target) => {
  it.skipIf(!target.processes).each([1, 2, 3, 4, 5])('killed with SIGKILL before statement %i of 5: DIRTY names it, resume reaches the schema of a clean run', async (k) => {
    const clean = await target.fresh()
    await createMigrator({ ...clean.connection, dir: await revisions(files(target)), ...quiet }).run()

    const db = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(db, dir, k)
    expect(await historyRows(db)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
    expect(await progress(db)).toEqual(Array.from({ length: k - 1 }, (_, i) => i + 1))

    const dirty = await failure(createMigrator({ ...db.connection, dir, ...after }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002', file: join(dir, '0002_five.sql') })
    expect(dirty.message).toContain(`statement ${k} at ${join(dir, '0002_five.sql')}:${LINE(k)} (`)
    expect(dirty.message).toMatch(
      // Where DDL commits implicitly but is atomic (MySQL), the last statement before the kill was recorded as starting, and the schema says it completed.
      k === 1
        ? /none of its statements is (recorded as )?applied/
        : k === 2
          ? /statement 1 of 5 is (recorded as )?applied \(line 3\)/
          : new RegExp(`statements 1\\.\\.${k - 1} of 5 are (recorded as )?applied \\(lines ${[3, 4, 5, 6].slice(0, k - 1).join(', ')}\\)`),
    )
    expect(dirty.message).toContain('boot-migrate resolve 0002 --resume')
    expect(dirty.message).toContain('boot-migrate resolve 0002 --applied')
    expect(dirty.message).toContain('boot-migrate resolve 0002 --rolled-back')

    if (k === 3) {
      // The CLI, as an operator runs it after reading the message.
      const cli = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'resolve', '0002', '--resume', '--url', db.url, '--dir', dir], { encoding: 'utf8' })
      expect(cli.status, cli.stdout + cli.stderr).toBe(0)
    } else await createMigrator({ ...db.connection, dir, ...after }).resolve('0002', 'resume')
    expect(await progress(db)).toEqual([])
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0003' }] })
    expect(await historyRows(db)).toEqual(['0001', '0002', '0003'].map((id) => ({ id, state: 'applied' })))
    expect(await db.schema(EXCLUDE)).toEqual(await clean.schema(EXCLUDE))
  })

  it('a statement that fails half-way leaves the completed ones recorded; the unapplied part is fixed in the file and resume completes it', async () => {
    const db = await target.fresh()
    const broken = five(target).replace('alter table p1 add column y int;', 'alter table nowhere add column y int;')
    const dir = await revisions({ ...files(target), '0002_five.sql': broken })
    const error = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 6 })
    expect(error.message).toContain('statements 1..3 stay applied')
    expect(error.message).toContain('boot-migrate resolve 0002 --resume')
    expect(await progress(db)).toEqual([1, 2, 3])

    const dirty = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain(`statement 4 at ${join(dir, '0002_five.sql')}:6 (alter table nowhere add column y int)`)
    expect(dirty.message).toMatch(/statements 1\.\.3 of 5 are (recorded as )?applied \(lines 3, 4, 5\)/)

    // Resuming the unfixed file fails again on the same statement, and leaves the same progress.
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'resume')).rejects.toMatchObject({ code: 'MIGRATION_FAILED', line: 6 })
    expect(await progress(db)).toEqual([1, 2, 3])

    await writeFile(join(dir, '0002_five.sql'), five(target))
    await createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'resume')
    // The history now carries the fixed file's checksum: the next boot does not call it edited.
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0003' }] })
    expect(await db.columns('p1')).toEqual(['x', 'y'])
    expect(await db.tables()).toContain('p5')
    expect(await progress(db)).toEqual([])
  })

  it.skipIf(!target.processes)('a resume whose first statement fails keeps the revision dirty: the running row stays, and the next boot is DIRTY again', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(db, dir, 1)
    expect(await progress(db)).toEqual([])
    // As if statement 1 had completed without its record (or failed for any other reason): running it again fails.
    await db.exec('create table p1 (x int)')
    const error = await failure(createMigrator({ ...db.connection, dir, ...after }).resolve('0002', 'resume'))
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0002', line: 3 })
    expect(error.message).not.toContain('Nothing of it was applied')
    expect(error.message).toContain('boot-migrate resolve 0002 --applied')
    if (target.name === 'mysql') expect(error.message).toContain('its effect is already there: resuming stopped, and the revision stays dirty')
    else expect(error.message).toContain('none of its statements completed; the revision is marked dirty')
    expect(await historyRows(db)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
    expect(await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())).toMatchObject({ code: 'DIRTY', revision: '0002' })
  })

  it.skipIf(!target.processes)('every statement recorded but the applied mark missing: DIRTY says only the mark is missing, and resume records it without running anything', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(db, dir, 5)
    // As a crash leaves it after the last statement committed with its record, before the applied write.
    await db.exec('create table p5 (x int)')
    const ph = target.name === 'postgres' ? '$1, $2, $3' : '?, ?, ?'
    await db.query(`insert into boot_migrate_history_progress (id, step, hash) values (${ph})`, ['0002', 5, statementHash('create table p5 (x int)')])
    const dirty = await failure(createMigrator({ ...db.connection, dir, ...after }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain('statements 1..5 of 5 are recorded as applied (lines 3, 4, 5, 6, 7) (all of them): only its applied mark is missing')
    expect(dirty.message).toContain('then only records the revision as done')
    await createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'resume')
    expect(await historyRows(db)).toEqual(['0001', '0002'].map((id) => ({ id, state: 'applied' })))
    expect(await progress(db)).toEqual([])
  })

  it.skipIf(!target.processes)('refuses to resume a file edited in its applied part, naming the first statement that differs, and changes nothing', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(db, dir, 4)
    await writeFile(join(dir, '0002_five.sql'), five(target).replace('insert into p1 values (1);', 'insert into p1 values (2);'))
    const error = await failure(createMigrator({ ...db.connection, dir, ...after }).resolve('0002', 'resume'))
    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH', revision: '0002', line: 4 })
    expect(error.message).toContain('0002_five.sql:4: statement 2 (insert into p1 values (2)) was changed after it was applied')
    expect(await progress(db)).toEqual([1, 2, 3])
    expect(await historyRows(db)).toContainEqual({ id: '0002', state: 'running' })
    expect(await db.columns('p1')).toEqual(['x'])
  })

  it.skipIf(!target.processes)('resolve --rolled-back and --applied still clear a killed revision, and its progress with it', async () => {
    const first = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(first, dir, 3)
    // Undone by hand: the next boot runs the revision from its first statement.
    await first.exec('drop table p1')
    await createMigrator({ ...first.connection, dir, ...after }).resolve('0002', 'rolled-back')
    expect(await progress(first)).toEqual([])
    await expect(createMigrator({ ...first.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0002' }, { id: '0003' }] })

    const second = await target.fresh()
    await killedBefore(second, dir, 3)
    // Finished by hand: statements 3..5.
    const text = await readFile(join(dir, '0002_five.sql'), 'utf8')
    for (const st of text.split('\n').slice(4, 7)) await second.query(st.replace(/;$/, ''))
    await createMigrator({ ...second.connection, dir, ...after }).resolve('0002', 'applied')
    expect(await progress(second)).toEqual([])
    await expect(createMigrator({ ...second.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0003' }] })
    expect(await second.schema(EXCLUDE)).toEqual(await first.schema(EXCLUDE))
  })

  it.skipIf(!target.processes)('a revert killed half-way is dirty in that direction, and resume finishes the revert', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const worker = startNode(killAt, { url: db.url, dir }, { BM_KILL_AT: '0002_five: statement 2/2', BM_DOWN: JSON.stringify({ steps: 2 }) })
    expect((await worker.exited()).signal, worker.output()).toBe('SIGKILL')
    expect(await historyRows(db)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])

    const dirty = await failure(createMigrator({ ...db.connection, dir, ...after }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain('was interrupted while being reverted')
    // Where DDL commits implicitly, statement 1 was recorded as starting and the schema says it completed.
    expect(dirty.message).toMatch(/statement 1 of 2 is (recorded as )?applied \(line 9\); /)
    expect(dirty.message).toContain(`statement 2 at ${join(dir, '0002_five.sql')}:10 (drop table p1) failed or was interrupted`)

    await createMigrator({ ...db.connection, dir, ...after }).resolve('0002', 'resume')
    expect(await historyRows(db)).toEqual([{ id: '0001', state: 'applied' }])
    expect(await progress(db)).toEqual([])
    expect((await db.tables()).filter((t) => !t.startsWith('boot_migrate'))).toEqual(['base'])
  })

  it.skipIf(!target.processes)('after a resume the no-op boot is still one query on the history, and the progress table is never read on it', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await killedBefore(db, dir, 2)
    await createMigrator({ ...db.connection, dir, ...after }).resolve('0002', 'resume')
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const app = db.appClient()
    await app.query('select 1')
    app.statements.length = 0
    await expect(createMigrator({ client: app.client, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [], upToDate: true })
    expect(app.statements).toEqual([`select id, checksum, state from ${target.historyTable}`])
  })

  it('a revision left running by an earlier version (no progress table) is DIRTY without an account, cannot be resumed, and resolves by hand', async () => {
    const db = await target.fresh()
    const dir = await revisions(files(target))
    await createMigrator({ ...db.connection, dir, to: '0001', ...quiet }).run()
    // What an earlier version left after a crash: the running row, the first statement's effect, no progress table.
    // Where 0001 itself ran outside a transaction (DDL on MySQL), this version made the progress table: an earlier one had none.
    await db.exec('drop table if exists boot_migrate_history_progress')
    await db.exec("create table p1 (x int); insert into boot_migrate_history (id, name, checksum, state, applied_by) values ('0002', 'five', 'old', 'running', 'old version')")
    const dirty = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain('no per-statement progress was recorded')
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'resume')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await db.exec('drop table p1')
    await createMigrator({ ...db.connection, dir, ...quiet }).resolve('0002', 'rolled-back')
    await expect(createMigrator({ ...db.connection, dir, ...quiet }).run()).resolves.toMatchObject({ applied: [{ id: '0002' }, { id: '0003' }] })
  })
})
