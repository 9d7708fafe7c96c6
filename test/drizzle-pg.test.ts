import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sql as dsql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { drizzleFolder, drizzleMigrate, truncatedCopy } from './drizzle-fixtures.js'
import { client, freshDatabase, runWorker } from './helpers.js'

const quiet = { logger: false as const }
const folder = drizzleFolder('postgresql')

function appClient(url: string) {
  const queries: string[] = []
  const sql = postgres(url, { max: 2, onnotice: () => undefined, debug: (_c, q) => void queries.push(q) })
  afterAll(() => sql.end({ timeout: 1 }))
  return { sql, db: drizzle(sql), queries }
}

describe('drizzle-orm on PostgreSQL', () => {
  it('applies a drizzle-kit folder through a drizzle db, then boots with one query', async () => {
    const url = await freshDatabase()
    const dir = await folder
    const { db, queries } = appClient(url)
    const first = await createMigrator({ db, dir, ...quiet }).run()
    expect(first.applied.map((r) => r.id)).toEqual(['0000', '0001', '0002'])
    expect(await client(url)`select indexname from pg_indexes where tablename = 'posts' and indexname = 'posts_user_id'`).toHaveLength(1)
    queries.length = 0
    expect(await createMigrator({ db, dir, ...quiet }).run()).toMatchObject({ upToDate: true, current: '0002' })
    expect(queries).toHaveLength(1)
  })

  it("takes over drizzle's history: nothing is applied twice, later revisions are applied", async () => {
    const url = await freshDatabase()
    const dir = await folder
    expect((await drizzleMigrate('postgresql', url, await truncatedCopy(dir, 2))).ok).toBe(true)
    const sql = client(url)
    await sql`insert into users (name) values ('kept')`
    const { db } = appClient(url)
    const result = await createMigrator({ db, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(await sql`select id, state from boot_migrate_history order by id`).toEqual([
      { id: '0000', state: 'applied' },
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
    expect(await sql`select name from users`).toEqual([{ name: 'kept' }])
  })

  it("with keepHistory, drizzle's own migrate() finds nothing to do afterwards", async () => {
    const url = await freshDatabase()
    const dir = await folder
    expect((await drizzleMigrate('postgresql', url, await truncatedCopy(dir, 1))).ok).toBe(true)
    await createMigrator({ url, dir, drizzle: { keepHistory: true }, ...quiet }).run()
    expect(await client(url)`select count(*)::int as n from drizzle.__drizzle_migrations`).toEqual([{ n: 3 }])
    // drizzle would fail on "relation already exists" if it re-applied anything.
    expect(await drizzleMigrate('postgresql', url, dir)).toMatchObject({ ok: true })
  })

  it('adopts a file edited after drizzle applied it with a warning; takeover.strict refuses it and records nothing', async () => {
    const url = await freshDatabase()
    const dir = await drizzleFolder('postgresql')
    expect((await drizzleMigrate('postgresql', url, dir)).ok).toBe(true)
    const journal = JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
    await appendFile(join(dir, `${journal.entries[1]!.tag}.sql`), '\n-- a later edit\n')
    const error = await createMigrator({ url, dir, takeover: { strict: true }, ...quiet }).run().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining(journal.entries[1]!.tag) })
    // The refused takeover leaves the database as it found it: not even an empty history table, so the next boot decides afresh.
    expect(await client(url)`select to_regclass('boot_migrate_history') as t`).toEqual([{ t: null }])
    const result = await createMigrator({ url, dir, ...quiet }).run()
    expect(result).toMatchObject({ applied: [], current: '0002', warnings: [expect.stringContaining(journal.entries[1]!.tag)] })
    expect(await client(url)`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 3 }])
  })

  it('gives function revisions a drizzle db inside the revision transaction', async () => {
    const url = await freshDatabase()
    const { db } = appClient(url)
    const migrations = [
      { id: '1', up: 'create table t (x int)' },
      {
        id: '2',
        up: async (ctx: { db?: unknown }) => {
          const tx = ctx.db as typeof db
          await tx.execute(dsql`insert into t values (1)`)
          throw new Error('data check failed')
        },
      },
    ]
    await expect(createMigrator({ db, migrations, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED', revision: '2' })
    expect(await client(url)`select count(*)::int as n from t`).toEqual([{ n: 0 }])
  })

  it("makes drizzle's db.transaction() inside a function revision a savepoint, never an early commit", async () => {
    const url = await freshDatabase()
    const { db } = appClient(url)
    const migrations = [
      { id: '1', up: 'create table t (x int)' },
      {
        id: '2',
        up: async (ctx: { db?: unknown }) => {
          const tx = ctx.db as typeof db
          await tx.transaction(async (inner) => {
            await inner.execute(dsql`insert into t values (1)`)
          })
          throw new Error('data check failed after the nested transaction')
        },
      },
    ]
    await expect(createMigrator({ db, migrations, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED', revision: '2' })
    expect(await client(url)`select count(*)::int as n from t`).toEqual([{ n: 0 }])
    expect(await client(url)`select id from boot_migrate_history`).toEqual([{ id: '1' }])
  })
})

describe("where drizzle's migrator fails and boot-migrate does not (PostgreSQL)", () => {
  it('replicas booting at once: drizzle fails on some, boot-migrate applies each revision once', async () => {
    const dir = await drizzleFolder('postgresql', undefined, { slow: true })
    const drizzleUrl = await freshDatabase()
    const drizzleRuns = await Promise.all(Array.from({ length: 6 }, () => drizzleMigrate('postgresql', drizzleUrl, dir)))
    expect(drizzleRuns.some((r) => !r.ok)).toBe(true)

    const ourUrl = await freshDatabase()
    const ours = await Promise.all(Array.from({ length: 6 }, () => runWorker({ url: ourUrl, dir })))
    expect(ours.every((r) => r.code === 0)).toBe(true)
    expect(ours.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0000', '0001', '0002', '0003'])
  })

  it('an index built concurrently: drizzle cannot run it, boot-migrate runs it outside a transaction', async () => {
    const dir = await drizzleFolder('postgresql')
    const journal = JSON.parse(await readFile(join(dir, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
    const last = join(dir, `${journal.entries[2]!.tag}.sql`)
    await writeFile(last, `-- migrate:no-transaction\n${(await readFile(last, 'utf8')).replace('CREATE INDEX', 'CREATE INDEX CONCURRENTLY')}`)
    const drizzleUrl = await freshDatabase()
    expect(await drizzleMigrate('postgresql', drizzleUrl, dir)).toMatchObject({ ok: false, out: expect.stringContaining('cannot run inside a transaction block') })
    const ourUrl = await freshDatabase()
    await expect(createMigrator({ url: ourUrl, dir, ...quiet }).run()).resolves.toMatchObject({ current: '0002' })
    expect(await client(ourUrl)`select indisvalid from pg_index where indexrelid = 'posts_user_id'::regclass`).toEqual([{ indisvalid: true }])
  })
})
