import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { waitFor } from './faults/helpers.js'
import { client, freshDatabase, revisions, root } from './helpers.js'

/** Runs the built CLI as a user would, with a clean environment apart from what the test sets. */
function cli(args: string[], env: Record<string, string> = {}, cwd = root) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  })
  return { code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout) }
}

const set = {
  '0001_users.sql': '-- migrate:up\ncreate table users (id int primary key, email text);\n-- migrate:down\ndrop table users;\n',
  '0002_email.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\ndrop index users_email;\n',
  '0003_seed.sql': "-- migrate:up\ninsert into users values (1, 'a@example.com');\n",
}

describe('the boot-migrate CLI', () => {
  it('up --statement-timeout bounds each statement (STATEMENT_TIMEOUT, exit 1, nothing applied); a value that is not a duration is a usage error', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table t (x int);\nselect pg_sleep(5);\n' })
    expect(cli(['up', '--url', url, '--dir', dir, '--statement-timeout', '5m']).code).toBe(2)
    const slow = cli(['up', '--url', url, '--dir', dir, '--statement-timeout', '200ms', '--json'])
    expect(slow.code).toBe(1)
    expect(slow.json()).toMatchObject({ error: { code: 'STATEMENT_TIMEOUT' } })
    expect(await client(url)`select to_regclass('t') as t`).toEqual([{ t: null }])
  })

  it('prints help with exit 0, and exits 2 on an unknown command or a missing database', () => {
    expect(cli(['--help'])).toMatchObject({ code: 0, out: expect.stringContaining('Exit codes') })
    expect(cli(['frobnicate']).code).toBe(2)
    expect(cli(['status', '--dir', '.'])).toMatchObject({ code: 2, err: expect.stringContaining('DATABASE_URL') })
  })

  it('init creates the folder, new adds the next ids, and init refuses a folder with revisions', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'bm-cli-')), 'migrations')
    expect(cli(['init', '--dir', dir]).code).toBe(0)
    expect(cli(['new', 'Add users table', '--dir', dir]).code).toBe(0)
    expect(cli(['new', 'seed', '--js', '--dir', dir, '--json']).json()).toEqual({ file: join(dir, '0002_seed.mjs') })
    expect((await readdir(dir)).sort()).toEqual(['0001_add_users_table.sql', '0002_seed.mjs'])
    expect(await readFile(join(dir, '0001_add_users_table.sql'), 'utf8')).toMatch(/-- migrate:up[\s\S]*-- migrate:down/)
    expect(cli(['init', '--dir', dir]).code).toBe(1)
  })

  it('new in a folder of plain SQL files (no markers) writes a plain file, so the folder stays plain', async () => {
    const dir = await revisions({ '0001_users.sql': 'create table users (x int);\n' })
    expect(cli(['new', 'items', '--dir', dir]).code).toBe(0)
    expect(await readFile(join(dir, '0002_items.sql'), 'utf8')).toBe('-- items\n\n')
  })

  it('up, status, history, current and heads report the same state as JSON', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    expect(cli(['up', '--to', '0002', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ applied: [{ id: '0001' }, { id: '0002' }], current: '0002' })
    const status = cli(['status', '--json', '--url', url, '--dir', dir]).json()
    expect(status).toMatchObject({ current: '0002', head: '0003', pending: ['0003'] })
    expect(status.revisions.map((r: { state: string }) => r.state)).toEqual(['applied', 'applied', 'pending'])
    expect(cli(['history', '--json', '--url', url, '--dir', dir]).json().map((r: { id: string }) => r.id)).toEqual(['0002', '0001'])
    expect(cli(['current', '--url', url, '--dir', dir]).out.trim()).toBe('0002')
    expect(cli(['heads', '--dir', dir]).out.trim()).toBe('0003')
    expect(cli(['status', '--url', url, '--dir', dir]).out).toMatch(/0003\s+seed\s+pending/)
  })

  it('down reverts, and refuses a revision without a down script with exit 1 and its code', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    const refused = cli(['down', '--json', '--url', url, '--dir', dir])
    expect(refused.code).toBe(1)
    expect(refused.json()).toMatchObject({ error: { code: 'IRREVERSIBLE', message: expect.stringContaining('0003_seed') } })
    await writeFile(join(dir, '0003_seed.sql'), "-- migrate:up\ninsert into users values (1, 'a@example.com');\n-- migrate:down\ndelete from users where id = 1;\n")
    // The up section is unchanged, so the applied checksum still matches: adding a down script later is allowed.
    expect(cli(['down', '--steps', '2', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ reverted: [{ id: '0003' }, { id: '0002' }], current: '0001' })
  })

  it('stamp records revisions without running them, and sql prints what up would run', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    await client(url)`create table users (id int primary key, email text)`
    expect(cli(['stamp', '0001', '--url', url, '--dir', dir]).code).toBe(0)
    const sql = cli(['sql', '--url', url, '--dir', dir])
    expect(sql.code).toBe(0)
    expect(sql.out).toContain('create index users_email on users (email);')
    expect(sql.out).toContain("values ('0002', 'email'")
    expect(sql.out).not.toContain('create table users')
    const offline = cli(['sql', '--from', 'base', '--to', '0001', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir])
    expect(offline.out).toContain('create table users')
    expect(offline.out).not.toContain('users_email')
  })

  it('sql --statement-timeout prints each revision under that timeout, as up --statement-timeout runs it', async () => {
    const dir = await revisions(set)
    const offline = ['sql', '--from', 'base', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir]
    const out = cli([...offline, '--statement-timeout', '5min']).out
    expect(out.indexOf("set local statement_timeout = '300000ms';")).toBeGreaterThan(out.indexOf('begin;'))
    expect(out.match(/set local statement_timeout = '300000ms';/g)).toHaveLength(Object.keys(set).length)
    expect(cli(offline).out).not.toContain('statement_timeout')
    expect(cli([...offline, '--statement-timeout', '5m']).code).toBe(2)
  })

  it('takes the database and folder from the environment and a config file, flags first', async () => {
    const url = await freshDatabase()
    const dir = await revisions(set)
    const cwd = await mkdtemp(join(tmpdir(), 'bm-cfg-'))
    await writeFile(join(cwd, 'boot-migrate.json'), JSON.stringify({ dir, table: 'from_config' }))
    expect(cli(['up', '--to', '0001'], { DATABASE_URL: url }, cwd).code).toBe(0)
    expect(await client(url)`select id from from_config`).toEqual([{ id: '0001' }])
    expect(cli(['current', '--table', 'other'], { DATABASE_URL: url }, cwd).out.trim()).toBe('none')
  })
})

describe('boot-migrate check', () => {
  it('passes a valid folder without a database', async () => {
    // --warn-only: 0002's CREATE INDEX without CONCURRENTLY is an unsafe-DDL finding (test/lint-cli.test.ts).
    expect(cli(['check', '--warn-only', '--dir', await revisions(set)])).toMatchObject({ code: 0, out: expect.stringContaining('3 revision(s) parsed') })
  })

  it('fails on duplicate ids and on statements that cannot run in a transaction', async () => {
    const dup = await revisions({ ...set, '0002_other.sql': '-- migrate:up\nselect 1;\n' })
    expect(cli(['check', '--json', '--dir', dup]).json()).toMatchObject({ error: { code: 'INVALID_REVISION', message: expect.stringContaining('Duplicate revision id 0002') } })
    const cic = await revisions({ '0001_idx.sql': '-- migrate:up\ncreate index concurrently i on t (x);\n' })
    expect(cli(['check', '--dir', cic])).toMatchObject({ code: 1, err: expect.stringContaining('-- migrate:no-transaction') })
  })

  it('against a database, reports an edited applied file and an out-of-order revision', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': set['0001_users.sql'], '0003_seed.sql': set['0003_seed.sql'] })
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    await writeFile(join(dir, '0001_users.sql'), set['0001_users.sql'].replace('email text', 'email varchar'))
    await writeFile(join(dir, '0002_email.sql'), set['0002_email.sql'])
    const r = cli(['check', '--json', '--url', url, '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.json().problems).toEqual([expect.stringMatching(/^CHECKSUM_MISMATCH: .*0001_users\.sql/), expect.stringMatching(/^OUT_OF_ORDER: .*0002_email\.sql/)])
  })

  it('--round-trip catches a down script that forgets an index and passes a correct one, on a scratch database', async () => {
    const url = await freshDatabase()
    const good = cli(['check', '--round-trip', '--warn-only', '--url', url, '--dir', await revisions({ '0001_users.sql': set['0001_users.sql'], '0002_email.sql': set['0002_email.sql'] })])
    expect(good).toMatchObject({ code: 0, out: expect.stringContaining('round trip (up, down, up) passed for 2 revision(s)') })
    const broken = await revisions({ '0001_users.sql': set['0001_users.sql'], '0002_email.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\nselect 1;\n' })
    const bad = cli(['check', '--round-trip', '--url', url, '--dir', broken])
    expect(bad.code).toBe(1)
    expect(bad.err).toContain('ROUND_TRIP_MISMATCH')
    expect(bad.err).toContain('left behind: index public.users_email')
    // The scratch databases are gone and the given database was never touched.
    expect(await client(url)`select count(*)::int as n from pg_database where datname like 'boot_migrate_scratch_%'`).toEqual([{ n: 0 }])
    expect(await client(url)`select to_regclass('boot_migrate_history') as h`).toEqual([{ h: null }])
  })
})

describe('the CLI under SIGTERM (a Job past its deadline, an evicted pod)', () => {
  it('stops at a safe point: the revision in flight is rolled back, the exit code is 1 and the error ABORTED', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table slow_one (x int);\nselect pg_sleep(60);\n' })
    const child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'up', '--url', url, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => (err += String(d)))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const sql = client(url)
    try {
      await waitFor('the revision on the server', async () => (await sql`select 1 from pg_stat_activity where query like 'select pg_sleep%' and datname = current_database()`).length > 0)
      child.kill('SIGTERM')
      expect(await exited).toBe(1)
      expect(err).toContain('SIGTERM: stopping at the next safe point')
      expect(err).toContain('ABORTED')
      expect(await sql`select to_regclass('slow_one') as t`).toEqual([{ t: null }])
      expect(await sql`select id from boot_migrate_history`).toEqual([])
    } finally {
      await sql.end()
    }
  })
})
