import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { writeBundle } from '../../src/bundle.js'
import { createMigrator, type RevisionInput } from '../../src/index.js'
import { lineByLine, parseSqlRevision } from '../../src/revisions/sql-file.js'
import { postgresRules } from '../../src/dialects/postgres.js'
import { captureLog, revisions } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets } from './targets.js'

// Expand/contract: a `-- migrate:phase contract` revision drops what the old code still reads, so the boot defers it
// and the pipeline applies it after the rollout (`phase: 'contract'`, `boot-migrate up --contract`).

const USERS = '0001_users.sql'
const DROP = '0002_drop_name.sql'
const AGE = '0003_add_age.sql'

/** A table, a contract revision that drops a column of it, and an expand revision after it. */
const expandContract = () =>
  revisions({
    [USERS]: '-- migrate:up\ncreate table users (id int, email text, name text);\n',
    [DROP]: '-- migrate:phase contract\n-- migrate:up\nalter table users drop column name;\n',
    [AGE]: '-- migrate:up\nalter table users add column age int;\n',
  })

const historyIds = async (db: { query(sql: string): Promise<Array<Record<string, unknown>>> }) =>
  (await db.query("select id from boot_migrate_history where state = 'applied' order by id")).map((r) => r.id)

describe.each(targets)('expand and contract phases ($label)', (target) => {
  it('the boot defers a contract revision and applies the expand revision after it', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const result = await createMigrator({ ...db.connection, dir, ...quiet }).run()
    expect(result).toMatchObject({ current: '0003', target: '0003', deferred: ['0002'], upToDate: false })
    expect(result.applied.map((a) => a.id)).toEqual(['0001', '0003'])
    expect(await historyIds(db)).toEqual(['0001', '0003'])
    expect(await db.columns('users')).toEqual(['id', 'email', 'name', 'age'])
  })

  it("phase 'contract' then applies the deferred revision, though an expand revision with a higher id is applied", async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const result = await createMigrator({ ...db.connection, dir, phase: 'contract', ...quiet }).run()
    expect(result).toMatchObject({ current: '0003', deferred: [], upToDate: false })
    expect(result.applied.map((a) => a.id)).toEqual(['0002'])
    expect(await historyIds(db)).toEqual(['0001', '0002', '0003'])
    expect(await db.columns('users')).toEqual(['id', 'email', 'age'])
    // The next boot has nothing left to defer.
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ applied: [], deferred: [], upToDate: true })
  })

  it("phase 'contract' on a new database applies every revision in id order", async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const order: string[] = []
    const migrator = createMigrator({ ...db.connection, dir, phase: 'contract', ...quiet })
    migrator.on('migration:start', (e) => order.push(e.id))
    await migrator.run()
    expect(order).toEqual(['0001', '0002', '0003'])
    expect(await db.columns('users')).toEqual(['id', 'email', 'age'])
  })

  it('contractBlocks stops the boot at the first contract revision and leaves the revisions after it, still ready', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const migrator = createMigrator({ ...db.connection, dir, contractBlocks: true, ...quiet })
    const result = await migrator.run()
    expect(result).toMatchObject({ current: '0001', deferred: ['0002', '0003'] })
    expect(result.applied.map((a) => a.id)).toEqual(['0001'])
    expect(migrator.health()).toMatchObject({ status: 'ready', ready: true, pending: [], deferred: ['0002', '0003'] })
    expect(await db.columns('users')).toEqual(['id', 'email', 'name'])

    const after = await createMigrator({ ...db.connection, dir, phase: 'contract', ...quiet }).run()
    expect(after.applied.map((a) => a.id)).toEqual(['0002', '0003'])
    expect(await db.columns('users')).toEqual(['id', 'email', 'age'])
  })

  it('readiness does not wait for a deferred revision: ready, with it in health().deferred and not in pending', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const migrator = createMigrator({ ...db.connection, dir, ...quiet })
    migrator.start()
    await expect(migrator.ready).resolves.toMatchObject({ deferred: ['0002'] })
    expect(migrator.health()).toMatchObject({ status: 'ready', ready: true, current: '0003', pending: [], deferred: ['0002'], error: null })
    expect(migrator.fetchHandler()(new Request('http://x/readyz')).status).toBe(200)
  })

  it("mode 'wait' waits for the expand revisions only", async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    // Were it waiting for 0002 too, no process would apply it before the rollout: WAIT_TIMEOUT.
    const waiter = createMigrator({ ...db.connection, dir, mode: 'wait', waitTimeout: 600, ...quiet })
    await expect(waiter.run()).resolves.toMatchObject({ current: '0003', deferred: ['0002'], upToDate: true })
    expect(waiter.health()).toMatchObject({ ready: true, deferred: ['0002'] })
  })

  it('a boot with only deferred revisions pending runs one statement and takes no lock', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const app = db.appClient()
    await app.query('select 1')
    app.statements.length = 0

    const result = await createMigrator({ client: app.client, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], upToDate: true, deferred: ['0002'] })
    expect(app.statements).toEqual([`select id, checksum, state from ${target.historyTable}`])
    expect(await db.lockHeld()).toBe(false)
  })

  it('the boot log says how many contract revisions wait and the command that applies them', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const log = captureLog()
    await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(log.text()).toContain("1 contract revision(s) wait for `boot-migrate up --contract` (migrate({ phase: 'contract' })) after the rollout: 0002_drop_name")
  })

  it('a pending expand revision that sorts before an applied one is still OUT_OF_ORDER', async () => {
    const db = await target.fresh()
    const first = await revisions({ [USERS]: '-- migrate:up\ncreate table users (id int);\n', [AGE]: '-- migrate:up\nalter table users add column age int;\n' })
    await createMigrator({ ...db.connection, dir: first, ...quiet }).run()
    const later = await revisions({
      [USERS]: '-- migrate:up\ncreate table users (id int);\n',
      '0002_late.sql': '-- migrate:up\nalter table users add column late int;\n',
      [AGE]: '-- migrate:up\nalter table users add column age int;\n',
    })
    expect(await failure(createMigrator({ ...db.connection, dir: later, ...quiet }).run())).toMatchObject({ code: 'OUT_OF_ORDER', revision: '0002' })
  })

  it('status() gives each revision its phase, and a deferred one is pending, not out of order', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    await createMigrator({ ...db.connection, dir, ...quiet }).run()
    const s = await createMigrator({ ...db.connection, dir, ...quiet }).status()
    expect(s.revisions.map((x) => [x.id, x.state, x.phase, x.outOfOrder])).toEqual([
      ['0001', 'applied', 'expand', false],
      ['0002', 'pending', 'contract', false],
      ['0003', 'applied', 'expand', false],
    ])
    expect(s.pending).toEqual(['0002'])
  })

  it('an unknown phase word is INVALID_REVISION naming file:line, and nothing is applied', async () => {
    const db = await target.fresh()
    const dir = await revisions({ [USERS]: '-- migrate:up\ncreate table users (id int);\n', [DROP]: '-- migrate:up\n-- migrate:phase shrink\nalter table users drop column id;\n' })
    const e = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(e).toMatchObject({ code: 'INVALID_REVISION', line: 2 })
    expect(e.message).toContain(`${join(dir, DROP)}:2: unknown phase "shrink" after -- migrate:phase (known: expand, contract)`)
    expect(await db.tables()).toEqual([])
  })

  it('a phase directive in the down section is INVALID_REVISION naming file:line', async () => {
    const db = await target.fresh()
    const dir = await revisions({ [USERS]: '-- migrate:up\ncreate table users (id int);\n-- migrate:down\n-- migrate:phase contract\ndrop table users;\n' })
    const e = await failure(createMigrator({ ...db.connection, dir, ...quiet }).run())
    expect(e).toMatchObject({ code: 'INVALID_REVISION', line: 4 })
    expect(e.message).toContain(`${join(dir, USERS)}:4: "-- migrate:phase" in the down section`)
  })

  it("a JS module's `export const phase = 'contract'` defers it", async () => {
    const db = await target.fresh()
    const dir = await revisions({
      [USERS]: '-- migrate:up\ncreate table users (id int, email text, name text);\n',
      '0002_drop_name.mjs': "export const phase = 'contract'\nexport async function up({ exec }) {\n  await exec('alter table users drop column name')\n}\n",
      [AGE]: '-- migrate:up\nalter table users add column age int;\n',
    })
    expect(await createMigrator({ ...db.connection, dir, ...quiet }).run()).toMatchObject({ current: '0003', deferred: ['0002'] })
    expect(await createMigrator({ ...db.connection, dir, phase: 'contract', ...quiet }).run()).toMatchObject({ applied: [expect.objectContaining({ id: '0002' })] })
    expect(await db.columns('users')).toEqual(['id', 'email', 'age'])
  })

  it("a `migrations` entry's phase: 'contract' defers it; another value is INVALID_REVISION", async () => {
    const db = await target.fresh()
    const migrations: RevisionInput[] = [
      { id: '1', up: 'create table users (id int, name text)' },
      { id: '2', up: 'alter table users drop column name', phase: 'contract' },
    ]
    expect(await createMigrator({ ...db.connection, migrations, ...quiet }).run()).toMatchObject({ current: '1', deferred: ['2'] })
    const bad = [{ id: '3', up: 'select 1', phase: 'later' }] as unknown as RevisionInput[]
    expect(await failure(createMigrator({ ...db.connection, migrations: bad, ...quiet }).run())).toMatchObject({ code: 'INVALID_REVISION', revision: '3' })
  })

  it('a bundled contract revision stays deferred', async () => {
    const db = await target.fresh()
    const dir = await expandContract()
    const out = join(await mkdtemp(join(tmpdir(), 'boot-migrate-bundle-')), 'migrations.mjs')
    await writeBundle({ dir, out, dialect: target.name })
    const migrations = ((await import(pathToFileURL(out).href)) as { default: RevisionInput[] }).default
    expect(migrations.map((m) => m.phase)).toEqual([undefined, 'contract', undefined])
    expect(await createMigrator({ ...db.connection, migrations, ...quiet }).run()).toMatchObject({ current: '0003', deferred: ['0002'] })
  })
})

describe('the -- migrate:phase directive', () => {
  const syntax = postgresRules.syntax
  const both = (text: string) => [parseSqlRevision(text, 'f.sql', syntax), lineByLine(text, 'f.sql', syntax, 0)]

  it('is read before the up section and inside it, by the fast parser and the line-by-line one alike', () => {
    for (const text of ['-- migrate:phase contract\n-- migrate:up\ndrop table a;\n', '-- migrate:up\ndrop table a;\n-- migrate:phase contract\ndrop table b;\n'])
      for (const parsed of both(text)) expect(parsed.phase).toBe('contract')
  })

  it('keeps statement lines those of the file when it sits inside the up section', () => {
    const text = '-- migrate:up\ndrop table a;\n-- migrate:phase contract\ndrop table b;\n'
    for (const parsed of both(text)) expect((parsed.up as { statements: Array<{ line: number }> }).statements.map((s) => s.line)).toEqual([2, 4])
  })

  it('defaults to expand, and expand may be written', () => {
    for (const parsed of [...both('-- migrate:up\nselect 1;\n'), ...both('-- migrate:phase expand\n-- migrate:up\nselect 1;\n')]) expect(parsed.phase).toBe('expand')
  })

  it('a second phase line is INVALID_REVISION naming its line', () => {
    expect(() => parseSqlRevision('-- migrate:phase contract\n-- migrate:up\n-- migrate:phase contract\nselect 1;\n', 'f.sql', syntax)).toThrow(
      expect.objectContaining({ code: 'INVALID_REVISION', line: 3, message: 'f.sql:3: a second "-- migrate:phase" line (the first is line 1)' }),
    )
  })

  it('a phase line without a phase is INVALID_REVISION naming its line', () => {
    expect(() => parseSqlRevision('-- migrate:up\n-- migrate:phase\nselect 1;\n', 'f.sql', syntax)).toThrow(expect.objectContaining({ code: 'INVALID_REVISION', line: 2 }))
  })
})
