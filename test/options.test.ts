import { describe, expect, it } from 'vitest'
import { createMigrator, migrate, type MigrateOptions } from '../src/index.js'
import { client, freshDatabase } from './helpers.js'
import { freshFile, open } from './sqlite-helpers.js'

const sqliteBase = async (): Promise<MigrateOptions> => ({ url: `sqlite:${await freshFile()}`, migrations: [{ id: '1', up: 'create table t (x int)' }], logger: false })

/** Calls migrate() and createMigrator().run(): neither may throw synchronously; both reject the same way. */
async function rejects(options: unknown): Promise<Error & { code?: string }> {
  let sync: unknown
  let viaMigrate: Promise<unknown> | undefined
  let viaRun: Promise<unknown> | undefined
  try {
    viaMigrate = migrate(options as MigrateOptions)
    viaRun = createMigrator(options as MigrateOptions).run()
  } catch (e) {
    sync = e
  }
  expect(sync).toBeUndefined()
  const [a, b] = await Promise.all([viaMigrate!.then(() => undefined, (e: unknown) => e), viaRun!.then(() => undefined, (e: unknown) => e)])
  expect(a).toMatchObject({ code: 'INVALID_OPTIONS' })
  expect((b as Error).message).toBe((a as Error).message)
  return a as Error & { code?: string }
}

describe('options are checked before anything runs', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['dir: 5', { dir: 5, migrations: undefined }, /"dir" must be a folder path string, got 5 \(number\)/],
    ['migrations: "x"', { migrations: 'x' }, /"migrations" must be an array of revisions .*, got "x" \(string\)/],
    ['signal: "x"', { signal: 'x' }, /"signal" must be an AbortSignal, got "x" \(string\)/],
    ['url: 5', { url: 5 }, /"url" must be a database URL string .*, got 5 \(number\)/],
    ['ddlRetries: 2.5', { ddlRetries: 2.5 }, /"ddlRetries" must be a whole number >= 0, got 2\.5 \(number\)/],
    ['allowOutOfOrder: "yes"', { allowOutOfOrder: 'yes' }, /"allowOutOfOrder" must be true or false, got "yes" \(string\)/],
    ['logger: "console"', { logger: 'console' }, /"logger" must be console, a pino-style logger .* or false, got "console" \(string\)/],
    ['instanceId: {}', { instanceId: {} }, /"instanceId" must be a non-empty string without NUL characters, got an object/],
    ['lockTimout (typo)', { lockTimout: 1000 }, /^Unknown option "lockTimout": did you mean "lockTimeout"\?/],
    ['ddlLockTimeOut (case)', { ddlLockTimeOut: 1000 }, /did you mean "ddlLockTimeout"\?/],
    ['an unknown name far from every option', { frobnicate: 1 }, /Unknown option "frobnicate"\. Known: url, client, db/],
    ['a short unknown name', { id: 1 }, /Unknown option "id"\. Known:/],
    ['connectionTimeout', { connectionTimeout: 1 }, /Unknown option "connectionTimeout": did you mean "connectTimeout"\?/],
    ['migration (singular)', { migration: [] }, /did you mean "migrations"\?/],
    ['lockTimeout past setTimeout', { lockTimeout: 2 ** 31 }, /"lockTimeout" must be a number of milliseconds from 0 to 2147483647, got 2147483648 \(number\)/],
    ['connectTimeout: NaN', { connectTimeout: Number.NaN }, /"connectTimeout" must be .*, got NaN \(number\)/],
    ['lockStale under 2 s', { lockStale: 500 }, /"lockStale" must be a number of milliseconds from 2000/],
    ['transaction: "none"', { transaction: 'none' }, /"transaction" must be "each" or "all", got "none" \(string\)/],
    ['mode: null', { mode: null }, /"mode" must be "migrate" or "wait", got null/],
    ['to: 5', { to: 5 }, /"to" must be a revision id string, got 5 \(number\)/],
    ['table with NUL', { table: 'a\0b' }, /"table" must be a name of 1 to 63 bytes without NUL characters/],
    ['schema with NUL', { schema: 'pub\0lic' }, /"schema" must be a name of 1 to 63 bytes without NUL characters/],
    ['table of 64 bytes', { table: 'x'.repeat(64) }, /"table" must be a name of 1 to 63 bytes/],
    ['table with a lone surrogate', { table: 'a\ud800' }, /"table" must be a name/],
    ['drizzle: "x"', { drizzle: 'x' }, /"drizzle" must be an object/],
    ['drizzle.tabel', { drizzle: { tabel: 'x' } }, /Unknown drizzle option "tabel": did you mean "table"\?/],
    ['drizzle.schema with NUL', { drizzle: { schema: 'a\0' } }, /"drizzle.schema" must be a name/],
    ['instanceId with NUL', { instanceId: 'a\0b' }, /"instanceId" must be a non-empty string without NUL/],
    ['format: "flywya"', { format: 'flywya' }, /"format" must be one of "boot-migrate", "drizzle", (.*, )?"prisma"(, .*)?, got "flywya" \(string\)/],
    ['format: 1', { format: 1 }, /"format" must be one of "boot-migrate", "drizzle"/],
    ['takeover: true', { takeover: true }, /"takeover" must be an object \{ keepHistory\?, strict\? \}, got true \(boolean\)/],
    ['takeover.strcit', { takeover: { strcit: true } }, /Unknown takeover option "strcit": did you mean "strict"\?/],
    ['takeover.keepHistory: "yes"', { takeover: { keepHistory: 'yes' } }, /"takeover.keepHistory" must be true or false, got "yes" \(string\)/],
  ]
  for (const [title, extra, message] of cases)
    it(`${title}: a rejected promise with INVALID_OPTIONS, and nothing applied (SQLite)`, async () => {
      const base = await sqliteBase()
      const file = (base.url as string).slice('sqlite:'.length)
      const error = await rejects({ ...base, ...extra })
      expect(error.message).toMatch(message)
      const db = open(file)
      expect(db.prepare(`select name from sqlite_master where name in ('t', 'boot_migrate_history')`).all()).toEqual([])
    })

  it('lists every problem in one message', async () => {
    const error = await rejects({ ...(await sqliteBase()), ddlRetries: -1, lockTimout: 1, mode: 'fast' })
    expect(error.message).toMatch(/"ddlRetries" must be .*; Unknown option "lockTimout".*; "mode" must be/)
  })

  it('not an object at all', async () => {
    for (const o of [undefined, null, 'postgres://x', 5]) expect((await rejects(o)).message).toMatch(/^migrate\(\) takes an options object/)
  })

  it('every operation rejects, health says failed, and the error is logged', async () => {
    const lines: string[] = []
    const logger = { info: () => undefined, warn: () => undefined, error: (m: string) => void lines.push(m) }
    const m = createMigrator({ ...(await sqliteBase()), logger, ddlRetries: 'x' } as never)
    for (const op of [() => m.status(), () => m.revisions(), () => m.script(), () => m.down(), () => m.stamp('1'), () => m.resolve('1', 'applied')])
      await expect(op()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    m.start()
    await expect(m.ready).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(m.health()).toMatchObject({ status: 'failed', error: { code: 'INVALID_OPTIONS' } })
    expect(lines.join('\n')).toContain('"ddlRetries" must be a whole number')
  })

  it('valid options in every form still run', async () => {
    const controller = new AbortController()
    const r = await createMigrator({
      ...(await sqliteBase()),
      signal: controller.signal,
      logger: console,
      ddlRetries: 0,
      lockTimeout: 0,
      allowOutOfOrder: false,
      instanceId: 'me',
      transaction: 'all',
      drizzle: { keepHistory: false },
      to: undefined,
    }).run()
    expect(r.current).toBe('1')
  })

  it('PostgreSQL: a NUL in the table or schema is INVALID_OPTIONS before connecting, nothing created', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    for (const extra of [{ table: 'boot\0history' }, { schema: 'ap\0p' }]) {
      const error = await rejects({ url, migrations: [{ id: '1', up: 'create table t (x int)' }], logger: false, ...extra })
      expect(error.message).toMatch(/must be a name of 1 to 63 bytes without NUL characters/)
    }
    expect(await sql`select count(*)::int as n from pg_class where relname in ('t', 'boot_migrate_history')`).toEqual([{ n: 0 }])
  })
})

describe('a history table of the same name made by another tool', () => {
  it('PostgreSQL: INVALID_OPTIONS naming the table and the missing column; nothing applied; the no-op boot is still one query', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    await sql`create table boot_migrate_history (version bigint primary key, dirty boolean not null)`
    const migrations = [{ id: '1', up: 'create table t (x int)' }]
    for (const run of [() => createMigrator({ url, migrations, logger: false }).run(), () => createMigrator({ url, migrations, logger: false }).status()]) {
      const error = (await run().catch((e: unknown) => e)) as Error & { code: string }
      expect(error.code).toBe('INVALID_OPTIONS')
      expect(error.message).toMatch(/^"public\.boot_migrate_history" exists but is not a boot-migrate history \(no column "(id|checksum|state)"\): pass another "table"/)
    }
    expect(await sql`select to_regclass('t') as t`).toEqual([{ t: null }])
    await sql`create schema other`
    await sql`create table other.history (version bigint)`
    const error = (await createMigrator({ url, migrations, schema: 'other', table: 'history', logger: false })
      .run()
      .catch((e: unknown) => e)) as Error
    expect(error.message).toMatch(/^"other\.history" exists but is not a boot-migrate history/)
  })

  it('SQLite: the same', async () => {
    const file = await freshFile()
    open(file).exec('create table boot_migrate_history (version integer primary key, dirty integer)')
    const error = (await createMigrator({ url: `sqlite:${file}`, migrations: [{ id: '1', up: 'create table t (x int)' }], logger: false })
      .run()
      .catch((e: unknown) => e)) as Error & { code: string }
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toMatch(/^"boot_migrate_history" exists but is not a boot-migrate history \(no column "(id|checksum|state)"\)/)
    expect(open(file).prepare(`select name from sqlite_master where name = 't'`).all()).toEqual([])
  })
})

describe('memoised migrate()', () => {
  it('keys on every option that changes the run, keeps a success, and re-reads an array edited in place', async () => {
    const file = await freshFile()
    const url = `sqlite:${file}`
    const migrations = [{ id: '1', up: 'create table a (x int)' }]
    const first = migrate({ url, migrations, logger: false })
    expect(migrate({ url, migrations, logger: false })).toBe(first)
    await first
    // A warm call: the same promise, no query. A different logger or signal shares it.
    expect(migrate({ url, migrations, logger: console, signal: new AbortController().signal })).toBe(first)
    // Options that change what a run does start a new one.
    for (const extra of [{ allowOutOfOrder: true }, { transaction: 'all' as const }, { drizzle: { keepHistory: false } }, { ddlRetries: 1 }]) {
      const other = migrate({ url, migrations, logger: false, ...extra })
      expect(other).not.toBe(first)
      await other
    }
    // Same content, other key order: the same run.
    expect(migrate({ logger: false, migrations, url })).toBe(first)

    migrations.push({ id: '2', up: 'create table b (x int)' })
    await expect(migrate({ url, migrations, logger: false })).resolves.toMatchObject({ current: '2', applied: [{ id: '2' }] })
    // Same length, an entry replaced: re-read.
    migrations[1] = { id: '3', up: 'create table c (x int)' }
    await expect(migrate({ url, migrations, allowOutOfOrder: true, logger: false })).resolves.toMatchObject({ applied: [{ id: '3' }] })
    // An entry's field edited in place.
    migrations.push({ id: '4', up: 'create table d (x int)' })
    await migrate({ url, migrations, allowOutOfOrder: true, logger: false })
    migrations[2]!.up = 'create table d (x int, y int)'
    await expect(migrate({ url, migrations, allowOutOfOrder: true, logger: false })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' })
  })

  it('createMigrator().run() re-reads an array whose entry was replaced at the same length', async () => {
    const url = `sqlite:${await freshFile()}`
    const migrations = [{ id: '1', up: 'create table a (x int)' }]
    await createMigrator({ url, migrations, logger: false }).run()
    migrations[0] = { id: '1', up: 'create table a (x int, y int)' }
    await expect(createMigrator({ url, migrations, logger: false }).run()).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' })
  })

  it('forgets a failed run, and never caches wrong options', async () => {
    const file = await freshFile()
    const migrations = [{ id: '1', up: 'create table a (x int); insert into missing values (1)' }]
    const first = migrate({ url: `sqlite:${file}`, migrations, logger: false })
    await expect(first).rejects.toMatchObject({ code: 'MIGRATION_FAILED' })
    await new Promise((r) => setTimeout(r, 0))
    migrations[0]!.up = 'create table a (x int)'
    await expect(migrate({ url: `sqlite:${file}`, migrations, logger: false })).resolves.toMatchObject({ current: '1' })
  })
})
