// ctx.batch on PostgreSQL with real processes: a backfill of a million rows while another process writes to the table,
// and a migrator killed with SIGKILL in the middle of one, resumed with `resolve --resume`.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator, type RevisionInput } from '../src/index.js'
import { eventually, failure, gate } from './contract/support.js'
import { startNode, waitFor } from './faults/helpers.js'
import { captureLog, client, freshDatabase, revisions, root } from './helpers.js'

const backfillWorker = join(root, 'test/workers/backfill.mjs')
const writerWorker = join(root, 'test/workers/pg-writer.mjs')
const SIZE = 10_000
const DDL_LOCK_TIMEOUT = 3000

/** A table as an earlier (expand) revision left it: `email_lower` added, empty. */
async function users(url: string, rows: number) {
  const sql = client(url)
  await sql.unsafe(`
    create table users (id bigint primary key, email text not null, email_lower text);
    insert into users (id, email) select i, 'User' || i || '@Example.COM' from generate_series(1, ${rows}) i;
    analyze users;`)
  return sql
}

/**
 * The folder: one revision outside a transaction that backfills email_lower in batches. `id = any(array(…))` rather than
 * `id in (select …)`: the planner would hash-join the whole table against each batch's ids (a full scan per batch).
 */
const folder = () =>
  revisions({
    '0001_backfill_email_lower.mjs': `export const transaction = false
export async function up(ctx) {
  const done = await ctx.batch('update users set email_lower = lower(email) where id = any(array(select id from users where email_lower is null limit $size))', { size: ${SIZE} })
  ctx.log(\`backfilled \${done.rows} rows in \${done.batches} batches\`)
}
`,
  })

const count = async (sql: ReturnType<typeof client>, where: string) => Number((await sql.unsafe(`select count(*)::int as n from users where ${where}`))[0]!.n)
const lastWrote = (out: string) => Number([...out.matchAll(/^WROTE (\d+)$/gm)].at(-1)?.[1] ?? 0)

describe('ctx.batch on PostgreSQL, with other processes', () => {
  it('backfills a million rows while another process writes: no writer or reader waits past ddlLockTimeout, and every row is filled', { timeout: 180_000 }, async () => {
    const rows = 1_000_000
    const url = await freshDatabase()
    const sql = await users(url, rows)
    const dir = await folder()
    const stopFile = join(await mkdtemp(join(tmpdir(), 'boot-migrate-writer-')), 'stop')
    const writer = startNode(writerWorker, {}, { BM_WRITER: JSON.stringify({ url, lockTimeout: DDL_LOCK_TIMEOUT, stopFile, rows, firstId: 10_000_001 }) })
    await writer.printed('WROTE ')

    const migrator = startNode(backfillWorker, { url, dir, ddlLockTimeout: DDL_LOCK_TIMEOUT }, { BM_STOP_AT_BATCH: '1' })
    // Batch 1 committed and the migrator stopped itself before batch 2: the writer goes on writing in between.
    await migrator.printed('BATCH {"id":"0001"')
    const before = lastWrote(writer.output())
    await waitFor('the writer to write during the backfill', () => lastWrote(writer.output()) >= before + 20, { timeout: 30_000 })
    migrator.child.kill('SIGCONT')
    const run = await migrator.exited(120_000)
    expect(run.result, run.stdout).toMatchObject({ applied: [{ id: '0001' }] })

    await writeFile(stopFile, '')
    const out = await writer.exited()
    const stats = JSON.parse(/^STATS (.*)$/m.exec(out.stdout)![1]!)
    expect(stats).toMatchObject({ lockTimeouts: 0, errors: [] })
    expect(stats.reads).toBeGreaterThan(0)

    // Batch events in order, each 10,000 rows (the writer's updates fill some rows themselves, so the last batches are smaller).
    const batches = [...run.stdout.matchAll(/^BATCH (.*)$/gm)].map((m) => JSON.parse(m[1]!) as { batches: number; rows: number })
    expect(batches.map((b) => b.batches)).toEqual(batches.map((_, i) => i + 1))
    expect(batches[0]!.rows).toBe(SIZE)
    expect(batches.length).toBeGreaterThanOrEqual(Math.floor((rows - stats.updates) / SIZE))
    expect(run.stdout).toContain(`backfilled ${batches.at(-1)!.rows} rows in ${batches.length} batches`)

    expect(await count(sql, 'email_lower is null')).toBe(0)
    expect(await count(sql, 'email_lower is distinct from lower(email)')).toBe(0)
    expect(await count(sql, 'true')).toBe(rows + stats.inserts)
  })

  it('killed with SIGKILL during the backfill: the next run says DIRTY with the batches done, and resolve --resume fills the rest', { timeout: 120_000 }, async () => {
    const rows = 200_000
    const url = await freshDatabase()
    const sql = await users(url, rows)
    const dir = await folder()
    const migrator = startNode(backfillWorker, { url, dir })
    await migrator.printed('BATCH {"id":"0001","name":"backfill_email_lower","batches":3,')
    migrator.child.kill('SIGKILL')
    expect((await migrator.exited()).signal).toBe('SIGKILL')

    // The progress record commits with each batch: it counts exactly the rows filled.
    const [progress] = await sql.unsafe<Array<{ hash: string }>>(`select hash from boot_migrate_history_progress where id = '0001'`)
    const [, batches, done] = /^batch:(\d+):(\d+)$/.exec(progress!.hash)!.map(Number)
    expect(batches).toBeGreaterThanOrEqual(3)
    expect(done).toBe(batches! * SIZE)
    expect(await count(sql, 'email_lower is not null')).toBe(done)

    const dirty = await createMigrator({ url, dir, logger: false }).run().catch((e: unknown) => e)
    expect(dirty).toMatchObject({ code: 'DIRTY', revision: '0001' })
    expect((dirty as Error).message).toContain(`it stopped in ctx.batch after ${batches} batch(es) / ${done} rows`)
    expect((dirty as Error).message).toContain('boot-migrate resolve 0001 --resume')

    const cli = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'resolve', '0001', '--resume', '--url', url, '--dir', dir], { encoding: 'utf8' })
    expect(cli.status, cli.stdout + cli.stderr).toBe(0)
    expect(await count(sql, 'email_lower is null')).toBe(0)
    expect(await count(sql, 'email_lower is distinct from lower(email)')).toBe(0)
    expect(await sql`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'applied' }])
    expect(await sql`select id from boot_migrate_history_progress`).toEqual([])
  })
})

describe('the CLI during a backfill', () => {
  it("the progress line shows ctx.batch's batches, rows and rate", async () => {
    const url = await freshDatabase()
    await users(url, 1000)
    // Held after the backfill until the test has read the line: the revision is still running, its batches done.
    const held = await gate()
    const dir = await revisions({
      '0001_backfill.mjs': `export const transaction = false
export async function up(ctx) {
  await ctx.batch('update users set email_lower = lower(email) where id = any(array(select id from users where email_lower is null limit $size))', { size: 100 })
  ${held.hold()}
}
`,
    })
    const child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'up', '--url', url, '--dir', dir], {
      env: { PATH: process.env.PATH ?? '', BOOT_MIGRATE_PROGRESS_MS: '50' },
      stdio: 'pipe',
    })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    await expect.poll(() => err, eventually).toMatch(/^\[boot-migrate\] 0001_backfill running for [\d.]+s; ctx\.batch: 10 batch\(es\), 1000 rows, \d+ rows\/s$/m)
    await held.open()
    expect(await exit).toBe(0)
  })
})

describe('ctx.batch meets a lock held by the app', () => {
  const backfill: RevisionInput = {
    id: '0001',
    name: 'backfill',
    transaction: false,
    async up(ctx) {
      await ctx.batch('update users set email_lower = lower(email) where id = any(array(select id from users where email_lower is null order by id limit $size))', { size: 100 })
    },
  }

  /** A transaction of the app's holding the row lock of one user until `release()`. */
  async function holdRow(url: string, id: number) {
    const sql = client(url, { max: 1 })
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const taken = new Promise<void>((resolve) => (locked = resolve))
    const tx = sql.begin(async (t) => {
      await t`select id from users where id = ${id} for update`
      locked()
      await held
    })
    await taken
    return { release: async () => (release(), await tx) }
  }

  it('a batch that waits past ddlLockTimeout is rolled back and retried; once the holder commits the backfill completes', async () => {
    const url = await freshDatabase()
    const sql = await users(url, 1000)
    const holder = await holdRow(url, 1)
    const log = captureLog()
    const migrator = createMigrator({ url, migrations: [backfill], ddlLockTimeout: 100, ddlRetries: 5, logger: log.logger })
    const run = migrator.run()
    await expect.poll(log.text, eventually).toMatch(/0001_backfill \(ctx\.batch, batch 1\) waited over 100 ms for a lock held by/)
    await holder.release()
    await run
    expect(await count(sql, 'email_lower is null')).toBe(0)
  })

  it('gives up after ddlRetries with DDL_LOCK_TIMEOUT, dirty with the batches done; resolve --resume completes once the lock is free', async () => {
    const url = await freshDatabase()
    const sql = await users(url, 1000)
    const holder = await holdRow(url, 1000)
    const error = await failure(createMigrator({ url, migrations: [backfill], ddlLockTimeout: 100, ddlRetries: 1, logger: false }).run())
    expect(error).toMatchObject({ code: 'DDL_LOCK_TIMEOUT', revision: '0001' })
    expect(error.message).toContain('could not get its table locks within ddlLockTimeout (100 ms) in 2 attempts')
    expect(error.message).toContain('ctx.batch had committed 9 batch(es) (900 rows)')
    expect(await count(sql, 'email_lower is null')).toBe(100)
    await holder.release()
    await createMigrator({ url, migrations: [backfill], logger: false }).resolve('0001', 'resume')
    expect(await count(sql, 'email_lower is null')).toBe(0)
    expect(await sql`select state from boot_migrate_history`).toEqual([{ state: 'applied' }])
  })
})
