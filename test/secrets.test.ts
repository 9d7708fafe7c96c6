import { spawnSync } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMigrator, migrate, type MigrateOptions } from '../src/index.js'
import { redactUrl, scrubber } from '../src/secrets.js'
import { captureLog, root, serverUrl } from './helpers.js'
import { startEmbeddedPostgres } from './setup/postgres.js'

/** A role with a real password; its parts are searched for in everything a user could see. */
const ROLE = 'bm_secret_opts'
const PASSWORD = 'k3yQx@Tail9q#Frag5z' // raw "@" and "#": both must be percent-encoded in a URL
const PIECES = ['k3yQx', 'Tail9q', 'Frag5z', encodeURIComponent(PASSWORD)]
const DB = `bm_secret_${process.pid}`

let admin: postgres.Sql
let host: string
beforeAll(async () => {
  admin = postgres(serverUrl(), { max: 1, onnotice: () => undefined })
  await admin.unsafe(`drop database if exists ${DB} with (force)`)
  await admin.unsafe(`do $$ begin create role ${ROLE} login; exception when duplicate_object then null; end $$`)
  await admin.unsafe(`alter role ${ROLE} password '${PASSWORD}'`)
  await admin.unsafe(`create database ${DB} owner ${ROLE}`)
  host = new URL(serverUrl()).host
})
afterAll(async () => {
  await admin.unsafe(`drop database if exists ${DB} with (force)`)
  await admin.unsafe(`drop role if exists ${ROLE}`)
  await admin.end()
})

const encoded = (db = DB) => `postgres://${ROLE}:${encodeURIComponent(PASSWORD)}@${host}/${db}`
const migrations = [{ id: '1', up: 'create table secret_t (x int)' }]

/** Everything a user could print: message, stack, cause chain, util.inspect, JSON, logs, health. */
function expectClean(...things: unknown[]) {
  const text = things
    .map((t) => (typeof t === 'string' ? t : `${inspect(t, { depth: 20, showHidden: true })}\n${JSON.stringify(t)}\n${String(t)}`))
    .join('\n')
  for (const piece of PIECES) expect(text).not.toContain(piece)
  return text
}

async function failure(options: MigrateOptions) {
  const log = captureLog()
  const m = createMigrator({ ...options, logger: log.logger })
  const error = (await m.run().catch((e: unknown) => e)) as Error & { code: string; cause?: unknown }
  const viaMemo = await migrate({ ...options, logger: false }).catch((e: unknown) => e)
  const text = expectClean(error, error.stack, error.cause, viaMemo, log.text(), m.health(), JSON.stringify(m.health()))
  return { error, log: log.text(), health: m.health(), text }
}

async function nothingApplied() {
  const sql = postgres(serverUrl().replace(/\/[^/]*$/, `/${DB}`), { max: 1, onnotice: () => undefined })
  try {
    expect(await sql`select to_regclass('secret_t') as t`).toEqual([{ t: null }])
  } finally {
    await sql.end()
  }
}

describe('secrets never reach a message, a cause, a log, health or the CLI', () => {
  it('a raw "#" in the password (Invalid URL in the driver): INVALID_OPTIONS with the password hidden, no cause', async () => {
    const url = `postgres://${ROLE}:${PASSWORD}@${host}/${DB}`
    const { error, health } = await failure({ url, migrations })
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toBe(
      `"url" is not a URL the PostgreSQL driver can read: postgres://${ROLE}:***@${host}/${DB}: a raw "#" cuts the URL short (the driver would read a host or port out of the password): percent-encode the characters # ? / @ : % of the user name and password (# as %23, ? as %3F, / as %2F, @ as %40, : as %3A, % as %25).`,
    )
    expect(error.cause).toBeUndefined()
    expect(health).toMatchObject({ status: 'failed', error: { code: 'INVALID_OPTIONS' } })
    await nothingApplied()
  })

  it('port 99999: INVALID_OPTIONS naming the port, password hidden (also in migrationUrl)', async () => {
    const url = `postgres://${ROLE}:${encodeURIComponent(PASSWORD)}@${host.split(':')[0]}:99999/${DB}`
    const { error } = await failure({ url, migrations })
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toMatch(new RegExp(`^"url" is not a URL the PostgreSQL driver can read: postgres://${ROLE}:\\*\\*\\*@[^ ]+:99999/${DB}: port 99999 is out of range`))
    const second = await failure({ url: encoded(), migrationUrl: url, migrations })
    expect(second.error.message).toMatch(/^"migrationUrl" is not a URL/)
    await nothingApplied()
  })

  it('a raw "@" in the password (postgres.js accepts it): the whole password is hidden, up to the last "@"', async () => {
    const raw = `postgres://${ROLE}:${PASSWORD.replace('#', '%23')}@${host}/${DB}`
    // It connects: the URL is valid for the driver.
    const log = captureLog()
    const m = createMigrator({ url: raw, migrations: [{ id: '1', up: 'create table secret_ok (x int)' }], logger: log.logger })
    await expect(m.run()).resolves.toMatchObject({ current: '1' })
    expect(log.text()).toContain(`postgres://${ROLE}:***@${host}/${DB}`)
    expectClean(log.text(), m.health())
    // A database that does not exist: DATABASE_UNREACHABLE, and the driver's error in `cause` is clean too.
    const { error } = await failure({ url: raw.replace(`/${DB}`, '/bm_no_such_db'), migrations, connectTimeout: 0 })
    expect(error.code).toBe('DATABASE_UNREACHABLE')
    expect(error.message).toContain(`Cannot reach postgres://${ROLE}:***@${host}/bm_no_such_db`)
    expect(error.message).toContain('does not exist')
    expect(error.cause).toBeInstanceOf(Error)
  })

  it('a driver error carrying the password (a revision that sets it) is scrubbed in its message, query and cause', async () => {
    const { error } = await failure({
      url: encoded(),
      migrations: [{ id: '2', up: `alter role no_such_role_bm password '${PASSWORD}'` }],
    })
    expect(error.code).toBe('MIGRATION_FAILED')
    expect(error.message).toContain('no_such_role_bm')
  })

  it('the password "postgres" hides nothing but itself: scheme, user and words stay readable', async () => {
    const url = `postgresql://${ROLE}:postgres@${host}/${DB}`
    await admin.unsafe(`alter role ${ROLE} password 'postgres'`)
    try {
      const { error, text } = await failure({ url, migrations: [{ id: '3', up: `select 'postgres'::int` }] })
      expect(error.code).toBe('MIGRATION_FAILED')
      expect(error.message).toContain('invalid input syntax for type integer: "postgres"')
      expect(text).not.toMatch(/\*\*\*:\/\/|:\/\/\*\*\*|"\*\*\*"/)
    } finally {
      await admin.unsafe(`alter role ${ROLE} password '${PASSWORD}'`)
    }
  })

  it('the CLI prints no password (status with a bad URL, an "@" URL and --json)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bm-secret-'))
    await writeFile(join(dir, '0001_t.sql'), '-- migrate:up\ncreate table secret_t (x int);\n')
    const cli = (url: string, ...more: string[]) => {
      const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'status', '--url', url, '--dir', dir, ...more], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      })
      return { code: r.status, all: `${r.stdout}\n${r.stderr}` }
    }
    const bad = cli(`postgres://${ROLE}:${PASSWORD}@${host}/${DB}`)
    expect(bad.code).toBe(1)
    expect(bad.all).toContain(`INVALID_OPTIONS: "url" is not a URL the PostgreSQL driver can read: postgres://${ROLE}:***@${host}/${DB}`)
    const at = cli(`postgres://${ROLE}:${PASSWORD.replace('#', '%23')}@${host}/bm_no_such_db`, '--json')
    expect(at.code).toBe(1)
    expect(at.all).toContain(`postgres://${ROLE}:***@${host}/bm_no_such_db`)
    const ok = cli(encoded())
    expect(ok.code).toBe(0)
    expectClean(bad.all, at.all, ok.all)
  })
})

describe('with password authentication (an embedded server: the shared one trusts every connection)', () => {
  it('a wrong password: DATABASE_UNREACHABLE that names the user, never the password; the right one with a raw "@" connects', async () => {
    const server = await startEmbeddedPostgres()
    try {
      const sql = postgres(server.url, { max: 1, onnotice: () => undefined })
      await sql.unsafe(`create role ${ROLE} login password '${PASSWORD}'`)
      await sql.unsafe(`create database ${DB} owner ${ROLE}`)
      await sql.end()
      const at = new URL(server.url).host
      const right = `postgres://${ROLE}:${PASSWORD.replace('#', '%23')}@${at}/${DB}`
      await expect(createMigrator({ url: right, migrations, logger: false }).run()).resolves.toMatchObject({ current: '1' })
      const wrong = right.replace('Frag5z', 'Frag5y')
      const { error } = await failure({ url: wrong, migrations, connectTimeout: 0 })
      expect(error.code).toBe('DATABASE_UNREACHABLE')
      expect(error.message).toContain(`Cannot reach postgres://${ROLE}:***@${at}/${DB}`)
      expect(error.message).toContain(`password authentication failed for user "${ROLE}"`)
      expect(expectClean(error)).not.toContain('Frag5y')
    } finally {
      await server.stop()
    }
  })
})

describe('the scrubber', () => {
  it('redacts a URL password up to the last "@", and a bare secret only as a whole token', () => {
    expect(redactUrl('at postgres://user:p@ss@host:5432/db now')).toBe('at postgres://user:***@host:5432/db now')
    expect(redactUrl('postgres://user:pa#ss@host/db')).toBe('postgres://user:***@host/db')
    expect(redactUrl('postgres://user@host/db?x=a@b')).toBe('postgres://user@host/db?x=a@b')
    const scrub = scrubber(['s3cretpw'])
    expect(scrub('x s3cretpw y s3cretpwX Xs3cretpw "s3cretpw" (s3cretpw)')).toBe('x *** y s3cretpwX Xs3cretpw "***" (***)')
    expect(scrub('postgres://s3cretpw:s3cretpw@s3cretpw.example/db')).toBe('postgres://s3cretpw:***@s3cretpw.example/db')
  })

  it('a URL we were given is hidden whole, even with a raw "/" in its password', () => {
    const url = 'postgres://u:pa/ss@host/db'
    expect(scrubber([], [url])(`cannot read ${url}`)).toBe('cannot read postgres://u:***@host/db')
  })
})
