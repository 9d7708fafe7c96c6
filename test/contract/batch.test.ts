// ctx.batch: a backfill in a no-transaction function revision, one transaction per batch, until a batch changes no row.
import { describe, expect, it } from 'vitest'
import { createMigrator, type BatchOptions, type BatchProgress, type RevisionInput } from '../../src/index.js'
import { failure, quiet } from './support.js'
import { targets, type Target, type TestDatabase } from './targets.js'

const ROWS = 2500

/** 0001: a table of ROWS users whose email_lower is to be filled. */
const table: RevisionInput = {
  id: '0001',
  name: 'users',
  up:
    'create table users (id integer primary key, email varchar(64) not null, email_lower varchar(64));\n' +
    `insert into users (id, email) values ${Array.from({ length: ROWS }, (_, i) => `(${i + 1}, 'User${i + 1}@Example.COM')`).join(', ')};\n`,
}

/** The backfill statement as each dialect writes it: MySQL cannot select from the table it updates, and has UPDATE … LIMIT. */
const backfill = (t: Target) =>
  t.name === 'mysql'
    ? 'update users set email_lower = lower(email) where email_lower is null limit $size'
    : 'update users set email_lower = lower(email) where id in (select id from users where email_lower is null limit $size)'

/** 0002: the backfill, outside a transaction unless told otherwise. */
function backfillRevision(statement: string, options: BatchOptions, transaction = false) {
  const results: Array<{ batches: number; rows: number }> = []
  const revision: RevisionInput = {
    id: '0002',
    name: 'backfill',
    transaction,
    async up(ctx) {
      results.push(await ctx.batch(statement, options))
    },
  }
  return { revision, results }
}

const unfilled = async (db: TestDatabase) => Number((await db.query<{ n: number }>('select count(*) as n from users where email_lower is null'))[0]!.n)
const filled = async (db: TestDatabase) => Number((await db.query<{ n: number }>('select count(*) as n from users where email_lower = lower(email)'))[0]!.n)
const history = (db: TestDatabase) => db.query('select id, state from boot_migrate_history order by id')
const counts = (p: BatchProgress) => ({ batches: p.batches, rows: p.rows })

describe.each(targets)('ctx.batch ($label)', (target) => {
  it('fills 2,500 rows in batches of 1,000: three batches that changed rows, then an empty one ends it', async () => {
    const db = await target.fresh()
    const { revision, results } = backfillRevision(backfill(target), { size: 1000 })
    const migrator = createMigrator({ ...db.connection, migrations: [table, revision], ...quiet })
    const events: Array<{ id: string; name: string; batches: number; rows: number }> = []
    migrator.on('batch:progress', (e) => events.push({ id: e.id, name: e.name, ...counts(e) }))
    const result = await migrator.run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001', '0002'])
    expect(results).toEqual([{ batches: 3, rows: ROWS }])
    expect(events).toEqual([
      { id: '0002', name: 'backfill', batches: 1, rows: 1000 },
      { id: '0002', name: 'backfill', batches: 2, rows: 2000 },
      { id: '0002', name: 'backfill', batches: 3, rows: 2500 },
    ])
    expect(await unfilled(db)).toBe(0)
    expect(await filled(db)).toBe(ROWS)
    expect(await history(db)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
    // The per-batch progress goes with the applied mark.
    expect(await db.query('select id from boot_migrate_history_progress')).toEqual([])
  })

  it('health() shows the batches and rows done while the backfill runs, and a rate', async () => {
    const db = await target.fresh()
    const { revision } = backfillRevision(backfill(target), { size: 1000, pauseMs: 1 })
    const migrator = createMigrator({ ...db.connection, migrations: [table, revision], ...quiet })
    const seen: unknown[] = []
    migrator.on('batch:progress', (e) => {
      const h = migrator.health()
      seen.push({ status: h.status, id: h.applying?.id, batch: h.applying?.batch && counts(h.applying.batch) })
      expect(h.applying!.batch!.rowsPerSecond).toBe(e.rowsPerSecond)
      expect(e.rowsPerSecond).toBeGreaterThan(0)
    })
    let before: unknown
    migrator.on('migration:start', (e) => e.id === '0002' && (before = migrator.health().applying?.batch))
    await migrator.run()
    expect(before).toBeNull()
    expect(seen).toEqual([
      { status: 'migrating', id: '0002', batch: { batches: 1, rows: 1000 } },
      { status: 'migrating', id: '0002', batch: { batches: 2, rows: 2000 } },
      { status: 'migrating', id: '0002', batch: { batches: 3, rows: 2500 } },
    ])
    expect(migrator.health().applying).toBeNull()
  })

  it('refuses ctx.batch in a revision that runs in a transaction, naming the revision', async () => {
    const db = await target.fresh()
    const { revision } = backfillRevision(backfill(target), { size: 1000 }, true)
    const error = await failure(createMigrator({ ...db.connection, migrations: [table, revision], ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002' })
    expect(error.message).toContain('0002_backfill')
    expect(error.message).toContain('ctx.batch commits each batch on its own')
    expect(error.message).toContain('transaction = false')
    expect(await unfilled(db)).toBe(ROWS)
    // Where DDL is transactional the revision ran in a transaction, rolled back; on MySQL a function revision runs outside one, and stays dirty.
    expect(await history(db)).toEqual(target.transactionalDdl ? [{ id: '0001', state: 'applied' }] : [{ id: '0001', state: 'applied' }, { id: '0002', state: 'running' }])
  })

  it('refuses a statement without the $size placeholder, before running it', async () => {
    const db = await target.fresh()
    const { revision } = backfillRevision('update users set email_lower = lower(email) where email_lower is null', { size: 1000 })
    const error = await failure(createMigrator({ ...db.connection, migrations: [table, revision], ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002' })
    expect(error.message).toContain('has no `$size`')
    expect(await unfilled(db)).toBe(ROWS)
  })

  it.each([0, 2.5, '1000'])('refuses a size that is not a positive integer (%j), before running the statement', async (size) => {
    const db = await target.fresh()
    const { revision } = backfillRevision(backfill(target), { size: size as number })
    const error = await failure(createMigrator({ ...db.connection, migrations: [table, revision], ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002' })
    expect(error.message).toContain(`ctx.batch's size must be a positive integer (got ${JSON.stringify(size)})`)
    expect(await unfilled(db)).toBe(ROWS)
  })

  it('refuses a statement that is not an UPDATE or DELETE', async () => {
    const db = await target.fresh()
    const { revision } = backfillRevision('select id from users limit $size', { size: 1000 })
    const error = await failure(createMigrator({ ...db.connection, migrations: [table, revision], ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002' })
    expect(error.message).toContain('one UPDATE or DELETE statement')
  })

  it('stopped between batches: ABORTED, the revision dirty with its batches named; resolve --resume finishes the backfill', async () => {
    const db = await target.fresh()
    const { revision, results } = backfillRevision(backfill(target), { size: 1000 })
    const migrations = [table, revision]
    const migrator = createMigrator({ ...db.connection, migrations, ...quiet })
    migrator.on('batch:progress', (e) => e.batches === 1 && void migrator.stop())
    const stopped = await failure(migrator.run())
    expect(stopped).toMatchObject({ code: 'ABORTED', revision: '0002' })
    expect(stopped.message).toContain('ctx.batch had committed 1 batch(es) (1000 rows)')
    expect(stopped.message).toContain('boot-migrate resolve 0002 --resume')
    expect(await unfilled(db)).toBe(ROWS - 1000)

    const dirty = await failure(createMigrator({ ...db.connection, migrations, ...quiet }).run())
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0002' })
    expect(dirty.message).toContain('it stopped in ctx.batch after 1 batch(es) / 1000 rows')
    expect(dirty.message).toContain('boot-migrate resolve 0002 --resume')

    await createMigrator({ ...db.connection, migrations, ...quiet }).resolve('0002', 'resume')
    // The run again went on with the rows not yet done.
    expect(results.at(-1)).toEqual({ batches: 2, rows: ROWS - 1000 })
    expect(await unfilled(db)).toBe(0)
    expect(await filled(db)).toBe(ROWS)
    expect(await history(db)).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })

  it('resolve --resume still refuses a dirty function revision that was not in ctx.batch', async () => {
    const db = await target.fresh()
    const broken: RevisionInput = {
      id: '0002',
      name: 'broken',
      transaction: false,
      async up(ctx) {
        await ctx.query('update users set email_lower = email')
        throw new Error('half done')
      },
    }
    await failure(createMigrator({ ...db.connection, migrations: [table, broken], ...quiet }).run())
    const error = await failure(createMigrator({ ...db.connection, migrations: [table, broken], ...quiet }).resolve('0002', 'resume'))
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS', revision: '0002' })
    expect(error.message).toContain('only one interrupted inside ctx.batch can')
  })
})
