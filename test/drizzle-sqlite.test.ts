import { drizzle } from 'drizzle-orm/better-sqlite3'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { drizzleFolder, drizzleMigrate, drizzleV1Folder, truncatedCopy } from './drizzle-fixtures.js'
import { runWorker } from './helpers.js'
import { counting, freshFile, open } from './sqlite-helpers.js'

const quiet = { logger: false as const }
const folder = drizzleFolder('sqlite')

/** Users with posts that reference them ON DELETE CASCADE: the rows a parent rebuild must not lose. */
function seed(file: string) {
  const db = open(file)
  db.exec("insert into users (id, name) values (1, 'ada'), (2, 'bob'); insert into posts (id, user_id, title) values (1, 1, 'a'), (2, 2, 'b'), (3, 2, 'c')")
  return db
}

describe('drizzle-orm on SQLite', () => {
  it('applies a drizzle-kit folder through a drizzle db, then boots with one statement', async () => {
    const file = await freshFile()
    const dir = await folder
    const { db: client, statements } = counting(file)
    const db = drizzle(client)
    expect((await createMigrator({ db, dir, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['0000', '0001', '0002'])
    statements.length = 0
    expect(await createMigrator({ db, dir, ...quiet }).run()).toMatchObject({ upToDate: true })
    expect(statements).toHaveLength(1)
  })

  it('applies the drizzle-kit 1.0 layout', async () => {
    const file = await freshFile()
    const dir = await drizzleV1Folder('sqlite')
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied).toHaveLength(3)
    expect(open(file).prepare("select name from sqlite_master where name = 'posts_user_id'").pluck().get()).toBe('posts_user_id')
  })

  it("takes over drizzle's history and applies only what drizzle had not", async () => {
    const file = await freshFile()
    const dir = await folder
    expect((await drizzleMigrate('sqlite', file, await truncatedCopy(dir, 2))).ok).toBe(true)
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(open(file).prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0000', '0001', '0002'])
  })

  it("with keepHistory, drizzle's own migrate() finds nothing to do afterwards", async () => {
    const file = await freshFile()
    const dir = await folder
    await createMigrator({ url: `sqlite:${file}`, dir, drizzle: { keepHistory: true }, ...quiet }).run()
    expect(open(file).prepare('select count(*) from __drizzle_migrations').pluck().get()).toBe(3)
    expect(await drizzleMigrate('sqlite', file, dir)).toMatchObject({ ok: true })
  })
})

describe('function revisions with drizzle on SQLite', () => {
  it('get a drizzle db on the migration connection, inside the revision transaction', async () => {
    const { sql: dsql } = await import('drizzle-orm')
    const file = await freshFile()
    const db = drizzle(open(file))
    let seenInside: unknown
    const migrations = [
      { id: '1', up: 'create table t (x integer)' },
      {
        id: '2',
        up: async (ctx: { db?: unknown; sql: unknown }) => {
          ;(ctx.db as typeof db).run(dsql`insert into t values (1)`)
          // The migration connection sees the row: the drizzle db runs on it, not on the app's connection.
          seenInside = (ctx.sql as ReturnType<typeof open>).prepare('select count(*) from t').pluck().get()
          throw new Error('data check failed')
        },
      },
    ]
    await expect(createMigrator({ db, migrations, ...quiet }).run()).rejects.toMatchObject({ code: 'MIGRATION_FAILED', revision: '2' })
    expect(seenInside).toBe(1)
    expect(open(file).prepare('select count(*) from t').pluck().get()).toBe(0)
  })
})

describe("where drizzle's migrator fails and boot-migrate does not (SQLite)", () => {
  it('a drizzle-kit rebuild of a parent table: drizzle cascade-deletes the child rows, boot-migrate keeps them', async () => {
    const dir = await folder
    const theirs = await freshFile()
    expect((await drizzleMigrate('sqlite', theirs, await truncatedCopy(dir, 1))).ok).toBe(true)
    seed(theirs).close()
    expect((await drizzleMigrate('sqlite', theirs, dir)).ok).toBe(true)
    expect(open(theirs).prepare('select count(*) from posts').pluck().get()).toBe(0)

    const ours = await freshFile()
    await createMigrator({ url: `sqlite:${ours}`, dir, to: '0000', ...quiet }).run()
    seed(ours).close()
    await createMigrator({ url: `sqlite:${ours}`, dir, ...quiet }).run()
    expect(open(ours).prepare('select count(*) from posts').pluck().get()).toBe(3)
  })

  it('replicas booting at once on one file: drizzle fails on some, boot-migrate applies each revision once', async () => {
    const dir = await drizzleFolder('sqlite', undefined, { slow: true })
    const theirs = await freshFile()
    const drizzleRuns = await Promise.all(Array.from({ length: 5 }, () => drizzleMigrate('sqlite', theirs, dir)))
    expect(drizzleRuns.some((r) => !r.ok)).toBe(true)

    const ours = await freshFile()
    const runs = await Promise.all(Array.from({ length: 5 }, () => runWorker({ url: `sqlite:${ours}`, dir })))
    for (const r of runs) expect(r.error, r.stdout).toBeUndefined()
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['0000', '0001', '0002', '0003'])
  })
})

describe('the drizzle example', () => {
  it('migrates its drizzle-kit folder at boot, serves the table, and boots with one query the second time', async () => {
    const { spawn } = await import('node:child_process')
    const { join } = await import('node:path')
    const { root } = await import('./helpers.js')
    const file = await freshFile()
    const boot = async () => {
      const child = spawn(process.execPath, [join(root, 'examples/drizzle-service/server.mjs')], { env: { ...process.env, PORT: '0', SQLITE_FILE: file }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => out.includes('[drizzle-service] ready') && resolve())
        child.on('exit', () => reject(new Error(out)))
      })
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)![1])
      const notes = await (await fetch(`http://127.0.0.1:${port}/notes`)).json()
      child.kill('SIGTERM')
      await new Promise((r) => child.on('exit', r))
      return { out, notes }
    }
    const first = await boot()
    expect(first.out).toContain('applied: 0000, 0001')
    expect(first.notes).toEqual([{ id: 1, authorId: 1, body: 'drizzle-kit wrote the SQL, boot-migrate applied it' }])
    expect((await boot()).out).toContain('applied: nothing (one query)')
  })
})
