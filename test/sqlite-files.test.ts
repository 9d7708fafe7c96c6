import { spawn } from 'node:child_process'
import { chmodSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrationError } from '../src/index.js'
import { captureLog, revisions, root as repo } from './helpers.js'
import { freshFile, open, tables, tempDir } from './sqlite-helpers.js'

const quiet = { logger: false as const }
const fail = (p: Promise<unknown>) => p.then(() => expect.unreachable('the run should have failed'), (e: unknown) => e as MigrationError)
const oneTable = () => revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
const root = process.getuid?.() === 0

/** `node test/workers/migrate.mjs` as another user, to meet file permissions root would ignore. */
function migrateInProcess(options: Record<string, unknown>, user: { uid?: number; gid?: number }) {
  const child = spawn(process.execPath, [join(repo, 'test/workers/migrate.mjs')], {
    env: { ...process.env, BM_OPTIONS: JSON.stringify({ ...options, logger: false }) },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...user,
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  return new Promise<{ result?: { upToDate: boolean; current: string | null }; error?: { code: string; message: string }; out: string }>((resolve) =>
    child.on('exit', () => {
      const line = (tag: string) => out.split('\n').find((l) => l.startsWith(tag))?.slice(tag.length)
      const r = line('RESULT ')
      const e = line('ERROR ')
      resolve({ out, ...(r ? { result: JSON.parse(r) } : {}), ...(e ? { error: JSON.parse(e) } : {}) })
    }),
  )
}

describe('SQLite database files', () => {
  it('accepts sqlite:, sqlite://, file:, file:// and bare .db/.sqlite/.sqlite3 paths, and sqlite::memory:', async () => {
    const dir = await oneTable()
    const folder = await tempDir()
    const rel = (name: string) => relative(process.cwd(), join(folder, name))
    const urls = {
      'a.db': `sqlite:${rel('a.db')}`,
      'b.db': `sqlite://${join(folder, 'b.db')}`,
      'c.db': `file:${rel('c.db')}`,
      'd.db': pathToFileURL(join(folder, 'd.db')).href,
      'e.db': join(folder, 'e.db'),
      'f.sqlite': join(folder, 'f.sqlite'),
      'g.sqlite3': rel('g.sqlite3'),
    }
    for (const [name, url] of Object.entries(urls)) {
      const result = await createMigrator({ url, dir, ...quiet }).run()
      expect(result.applied.map((r) => r.id), url).toEqual(['0001'])
      expect(tables(open(join(folder, name))), url).toContain('a')
    }
    expect((await createMigrator({ url: 'sqlite::memory:', dir, ...quiet }).run()).applied.map((r) => r.id)).toEqual(['0001'])
  })

  it('creates the missing folders of a new database file', async () => {
    const file = join(await tempDir(), 'not', 'yet', 'there', 'app.db')
    const result = await createMigrator({ url: `sqlite:${file}`, dir: await oneTable(), ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001'])
    expect(tables(open(file))).toContain('a')
  })

  it('migrates a WAL database while the app holds a read transaction on it, and keeps it in WAL mode', async () => {
    const file = await freshFile()
    const app = open(file)
    app.pragma('journal_mode = WAL')
    app.exec("create table notes (body text); insert into notes values ('kept');")
    app.exec('BEGIN')
    expect(app.prepare('select body from notes').pluck().all()).toEqual(['kept'])

    const result = await createMigrator({ url: `sqlite:${file}`, dir: await oneTable(), ddlRetries: 0, ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001'])
    app.exec('COMMIT')
    expect(tables(app)).toEqual(['a', 'boot_migrate_history', 'notes'])
    expect(app.pragma('journal_mode', { simple: true })).toBe('wal')
  })

  it('switches a database to WAL in a no-transaction revision and refuses it inside a transaction', async () => {
    const file = await freshFile()
    const inTx = await revisions({ '0001_wal.sql': '-- migrate:up\nPRAGMA journal_mode = WAL;\n' })
    const error = await fail(createMigrator({ url: `sqlite:${file}`, dir: inTx, ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_REVISION' })
    expect(error.message).toContain('PRAGMA journal_mode')

    const dir = await revisions({ '0001_wal.sql': '-- migrate:up\n-- migrate:no-transaction\nPRAGMA journal_mode = WAL;\n' })
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()
    expect(open(file).pragma('journal_mode', { simple: true })).toBe('wal')
  })

  it("waits for the app's write transaction instead of failing, then applies", async () => {
    const file = await freshFile()
    await createMigrator({ url: `sqlite:${file}`, dir: await oneTable(), ...quiet }).run()
    const app = open(file)
    app.exec('create table notes (body text)')
    app.exec('BEGIN IMMEDIATE')
    app.prepare("insert into notes values ('in flight')").run()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    const log = captureLog()
    // The app commits while the migrator pauses between attempts: when it says it will retry.
    const logger = {
      ...log.logger,
      warn(...args: unknown[]) {
        log.logger.warn(...args)
        if (/0002_b .*retry 1\//.test(String(args[0]))) app.exec('COMMIT')
      },
    }
    const result = await createMigrator({ url: `sqlite:${file}`, dir, ddlLockTimeout: 100, logger }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    const steps = log.lines.flatMap((l) => (/^warn .*0002_b .*for a lock.*retry 1\//.test(l) ? ['waited for a lock, retrying'] : /applied 0002_b/.test(l) ? ['applied'] : []))
    expect(steps, log.text()).toEqual(['waited for a lock, retrying', 'applied'])
    expect(app.prepare('select body from notes').pluck().all()).toEqual(['in flight'])
    expect(tables(app)).toContain('b')
  })

  it('reads an up-to-date read-only database and refuses to migrate one with pending revisions, applying nothing', async () => {
    const file = await freshFile()
    const dir = await oneTable()
    await createMigrator({ url: `sqlite:${file}`, dir, ...quiet }).run()

    const upToDate = await createMigrator({ url: `sqlite:${file}?mode=ro`, dir, ...quiet }).run()
    expect(upToDate).toMatchObject({ upToDate: true, current: '0001' })

    const more = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    const error = await fail(createMigrator({ url: `sqlite:${file}?mode=ro`, dir: more, ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED' })
    expect(error.message).toContain('read-only')
    expect(error.message).toContain('Nothing was applied')
    expect(tables(open(file))).not.toContain('b')
  })

  it('refuses to migrate through a client opened read-only', async () => {
    const file = await freshFile()
    open(file).exec('create table existing (x int)')
    const error = await fail(createMigrator({ client: open(file, { readonly: true }), dir: await oneTable(), ...quiet }).run())
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED' })
    expect(error.message).toMatch(/open read-only.*migrationUrl/)
    expect(tables(open(file))).toEqual(['existing'])
  })

  it('migrates through migrationUrl when the app connection is read-only', async () => {
    const file = await freshFile()
    open(file).exec('create table existing (x int)')
    const result = await createMigrator({ client: open(file, { readonly: true }), migrationUrl: `sqlite:${file}`, dir: await oneTable(), ...quiet }).run()
    expect(result.applied.map((r) => r.id)).toEqual(['0001'])
  })

  it('refuses to migrate a file the process may not write, applying nothing, and boots it when nothing is pending', async () => {
    const folder = await tempDir()
    const file = join(folder, 'app.db')
    await createMigrator({ url: `sqlite:${file}`, dir: await oneTable(), ...quiet }).run()
    // Root may write any file: the migrating process then runs as nobody, to whom the root-owned file is read-only.
    chmodSync(folder, 0o755)
    chmodSync(file, root ? 0o644 : 0o444)
    const asOther = (options: Record<string, unknown>) => migrateInProcess(options, root ? { uid: 65534, gid: 65534 } : {})

    const same = await oneTable()
    chmodSync(same, 0o755)
    const upToDate = await asOther({ url: `sqlite:${file}`, dir: same })
    expect(upToDate.result, upToDate.out).toMatchObject({ upToDate: true, current: '0001' })

    const more = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n' })
    chmodSync(more, 0o755)
    const failed = await asOther({ url: `sqlite:${file}`, dir: more })
    expect(failed.error?.code, failed.out).toBe('MIGRATION_FAILED')
    expect(failed.error?.message).toContain('not writable')
    expect(failed.error?.message).toContain('Nothing was applied')
    expect(tables(open(file, { readonly: true }))).not.toContain('b')
  })

  it('says a read-only URL to a missing file names no database, instead of creating one', async () => {
    const file = await freshFile()
    const error = await fail(createMigrator({ url: `sqlite:${file}?mode=ro`, dir: await oneTable(), ...quiet }).run())
    expect(error).toMatchObject({ code: 'DATABASE_UNREACHABLE' })
    expect(error.message).toContain('does not exist')
    expect(existsSync(file)).toBe(false)
  })

  it('rejects URL parameters it would otherwise ignore', async () => {
    const error = await fail(createMigrator({ url: `sqlite:${await freshFile()}?cache=shared`, dir: await oneTable(), ...quiet }).run())
    expect(error).toMatchObject({ code: 'INVALID_OPTIONS' })
    expect(error.message).toContain('cache=shared')
  })
})
