import { spawn, spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from './contract/support.js'
import { client, freshDatabase, revisions, root } from './helpers.js'

/** The built CLI as a child process, without a TTY, with a clean environment apart from what the test sets. */
function cli(args: string[], env: Record<string, string> = {}, cwd = root, bin = join(root, 'dist/cli.js')) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env } })
  return { code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout) }
}

const running: Array<ReturnType<typeof spawn>> = []
afterEach(() => {
  for (const c of running.splice(0)) c.kill('SIGKILL')
})

/** Starts the CLI in the background; `said()` is everything it wrote so far. */
function background(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(root, 'dist/cli.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'pipe' })
  running.push(child)
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { said: () => err, out: () => out, exit }
}

const users = '-- migrate:up\ncreate table users (id int primary key, email text);\n-- migrate:down\ndrop table users;\n'

describe('the CLI in its first hour', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
    expect(cli(['--version'])).toMatchObject({ code: 0, out: `${version}\n` })
    expect(cli(['-v', '--json']).json()).toEqual({ version })
  })

  it('<command> --help gives that command its flags and an example', () => {
    const down = cli(['down', '--help'])
    expect(down.code).toBe(0)
    expect(down.out).toMatch(/^boot-migrate down: revert/)
    expect(down.out).toContain('--steps N')
    expect(down.out).toContain('Example:\n  boot-migrate down --steps 2')
    const status = cli(['status', '--help']).out
    expect(status).toContain('--exit-code')
    expect(status).toContain('Exit codes')
    expect(cli(['help', 'down']).out).toBe(down.out)
    for (const c of ['init', 'new', 'up', 'history', 'current', 'heads', 'check', 'stamp', 'resolve', 'sql', 'wait']) expect(cli([c, '--help']).out).toContain(`Usage: boot-migrate ${c}`)
  })

  it('a mistyped command gets "did you mean", and usage errors honour --json', () => {
    expect(cli(['stauts'])).toMatchObject({ code: 2, out: '', err: expect.stringContaining('Unknown command "stauts". Did you mean "status"?') })
    expect(cli(['histroy', '--json']).json()).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('Did you mean "history"?') } })
    expect(cli(['frobnicate']).err).not.toContain('Did you mean')
    const flag = cli(['up', '--steps', '2', '--json'])
    expect(flag.code).toBe(2)
    expect(flag.json()).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('"up" takes no --steps') } })
    expect(cli(['status', '--bogus', '--json']).json()).toEqual({ error: { code: 'USAGE', message: expect.stringContaining('Unknown option --bogus') } })
    expect(cli(['status', '--json', '--dir', '.'])).toMatchObject({ code: 2, err: '' })
    expect(cli(['status', '--json', '--dir', '.']).json().error).toMatchObject({ code: 'USAGE', message: expect.stringContaining('DATABASE_URL') })
  })

  it('a failed revision is printed once: no log line and then CODE: message', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_bad.sql': '-- migrate:up\nselect no_such_column from pg_class;\n' })
    const r = cli(['up', '--url', url, '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.err.match(/no_such_column/g)).toHaveLength(1)
    expect(r.err).toMatch(/^MIGRATION_FAILED: Revision 0001_bad failed at .*0001_bad\.sql:2/m)
    // --json: the error is the one document on stdout; stderr carries JSON lines only, none of them the error.
    const j = cli(['up', '--json', '--url', url, '--dir', dir])
    expect(j.json()).toEqual({ error: { code: 'MIGRATION_FAILED', message: expect.stringContaining('no_such_column') } })
    const lines = j.err.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.some((l) => JSON.stringify(l).includes('no_such_column'))).toBe(false)
    expect(await client(url)`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 0 }])
  })

  it('status --exit-code and check --exit-code exit 3 while revisions are pending, 0 once applied; status alone exits 0', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': users })
    expect(cli(['status', '--url', url, '--dir', dir]).code).toBe(0)
    expect(cli(['status', '--exit-code', '--url', url, '--dir', dir]).code).toBe(3)
    const check = cli(['check', '--exit-code', '--url', url, '--dir', dir])
    expect(check).toMatchObject({ code: 3, out: expect.stringContaining('1 pending: 0001') })
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    expect(cli(['status', '--exit-code', '--url', url, '--dir', dir]).code).toBe(0)
    expect(cli(['check', '--exit-code', '--url', url, '--dir', dir]).code).toBe(0)
  })

  it('--connect-timeout bounds the wait for a server that is down, with DATABASE_UNREACHABLE', async () => {
    const dir = await revisions({ '0001_users.sql': users })
    const r = cli(['status', '--connect-timeout', '300', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^DATABASE_UNREACHABLE: Cannot reach postgres:\/\/nobody@127\.0\.0\.1:1\/none after trying for 0\.3s \(connectTimeout, --connect-timeout in the CLI\)/m)
    expect(cli(['status', '--connect-timeout', 'soon', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir])).toMatchObject({ code: 2, err: expect.stringContaining('--connect-timeout takes a number') })
  })

  it('a port that accepts connections but is no database server fails with DATABASE_UNREACHABLE instead of hanging', async () => {
    // postgres.js reconnects forever to a server that answers its startup message with HTTP.
    const server = createServer((s) => {
      s.on('error', () => undefined)
      s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n'))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const r = background(['status', '--json', '--connect-timeout', '300', '--url', `postgres://x@127.0.0.1:${port}/x`, '--dir', await revisions({})])
      expect(await r.exit).toBe(1)
      expect(JSON.parse(r.out()).error).toEqual({ code: 'DATABASE_UNREACHABLE', message: expect.stringContaining('no answer within connectTimeout (300 ms') })
    } finally {
      server.close()
    }
  }, 30_000)

  it('init leaves nothing to apply; the first revision is applied once it is written', async () => {
    const url = await freshDatabase()
    const dir = join(await mkdtemp(join(tmpdir(), 'bm-init-')), 'migrations')
    expect(cli(['init', '--dir', dir])).toMatchObject({ code: 0, out: expect.stringContaining('boot-migrate new <name>') })
    expect(await readdir(dir)).toEqual([])
    expect(cli(['up', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ applied: [], current: null })
    const { file } = cli(['new', 'users', '--json', '--dir', dir]).json()
    // Not yet written: refused before anything is recorded, so the SQL written into it next is still accepted.
    const early = cli(['up', '--json', '--url', url, '--dir', dir])
    expect(early.code).toBe(1)
    expect(early.json()).toEqual({ error: { code: 'INVALID_REVISION', message: expect.stringContaining('the up section of revision 0001_users is empty') } })
    expect(await client(url)`select to_regclass('boot_migrate_history')::text as t`).toEqual([{ t: null }])
    await writeFile(file, users)
    expect(cli(['up', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ applied: [{ id: '0001' }], current: '0001' })
    expect(cli(['status', '--exit-code', '--url', url, '--dir', dir]).code).toBe(0)
  })

  it('down refuses an applied file that was edited since, as up does, and reverts nothing', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': users })
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    await writeFile(join(dir, '0001_users.sql'), users.replace('email text', 'email text, name text').replace('drop table users', 'drop table users cascade'))
    const r = cli(['down', '--json', '--url', url, '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.json()).toEqual({ error: { code: 'CHECKSUM_MISMATCH', message: expect.stringMatching(/0001_users\.sql was changed after it was applied .*nothing was reverted/) } })
    const sql = client(url)
    expect(await sql`select id from boot_migrate_history`).toEqual([{ id: '0001' }])
    expect(await sql`select to_regclass('users')::text as t`).toEqual([{ t: 'users' }])
  })

  it('check --dialect sqlite needs no database and neither better-sqlite3 nor postgres', async () => {
    // An install of boot-migrate where every package but the two drivers is present.
    const app = await mkdtemp(join(tmpdir(), 'bm-nodriver-cli-'))
    const pkg = join(app, 'node_modules/boot-migrate')
    await mkdir(pkg, { recursive: true })
    await cp(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
    await cp(join(root, 'package.json'), join(pkg, 'package.json'))
    for (const name of await readdir(join(root, 'node_modules')))
      if (!['better-sqlite3', 'postgres', 'boot-migrate', '.bin'].includes(name)) await symlink(join(root, 'node_modules', name), join(app, 'node_modules', name))
    const bin = join(pkg, 'dist/cli.js')
    const good = await revisions({ '0001_users.sql': users.replace(' int ', ' integer ') })
    expect(cli(['check', '--dialect', 'sqlite', '--dir', good], {}, app, bin)).toMatchObject({ code: 0, out: expect.stringContaining('1 revision(s) parsed') })
    expect(cli(['heads', '--dialect', 'sqlite', '--dir', good], {}, app, bin)).toMatchObject({ code: 0, out: '0001\n' })
    const vacuum = await revisions({ '0001_vacuum.sql': '-- migrate:up\nvacuum;\n' })
    expect(cli(['check', '--dialect', 'sqlite', '--dir', vacuum], {}, app, bin)).toMatchObject({ code: 1, err: expect.stringContaining('VACUUM cannot run inside a transaction') })
    const cic = await revisions({ '0001_idx.sql': '-- migrate:up\ncreate index concurrently i on t (x);\n' })
    expect(cli(['check', '--dir', cic], {}, app, bin)).toMatchObject({ code: 1, err: expect.stringContaining('-- migrate:no-transaction') })
    // The drivers really are missing there: applying names the one it needs.
    expect(cli(['up', '--url', `sqlite:${join(app, 'x.db')}`, '--dir', good], {}, app, bin)).toMatchObject({ code: 1, err: expect.stringContaining('DRIVER_MISSING') })
  })
})

describe('progress while a revision runs', () => {
  it('prints plain lines with the elapsed time without a TTY, and JSON events with --json', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_sleep.sql': '-- migrate:up\nselect pg_sleep(1);\n' })
    const r = cli(['up', '--url', url, '--dir', dir], { BOOT_MIGRATE_PROGRESS_MS: '50' })
    expect(r.code).toBe(0)
    expect(r.err).toMatch(/^\[boot-migrate\] 0001_sleep running for \d+\.\ds$/m)
    expect(r.err).not.toContain('\r')
    const url2 = await freshDatabase()
    const j = cli(['up', '--json', '--url', url2, '--dir', dir], { BOOT_MIGRATE_PROGRESS_MS: '50' })
    expect(j.json()).toMatchObject({ applied: [{ id: '0001' }] })
    const events = j.err.trim().split('\n').map((l) => JSON.parse(l))
    expect(events).toContainEqual(expect.objectContaining({ event: 'migration:start', revision: '0001' }))
    expect(events).toContainEqual(expect.objectContaining({ event: 'progress', revision: '0001', elapsedMs: expect.any(Number) }))
    expect(events).toContainEqual(expect.objectContaining({ event: 'migration:end', revision: '0001' }))
  })

  it('names the phase of a CREATE INDEX CONCURRENTLY that waits for a writer, from pg_stat_progress_create_index', async () => {
    const url = await freshDatabase()
    const sql = client(url, { max: 1 })
    await sql`create table t (x int)`
    const dir = await revisions({ '0001_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently t_x on t (x);\n' })
    // An open transaction that wrote to t: the build waits for it before it starts.
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const writer = sql.begin(async (tx) => {
      await tx`insert into t values (1)`
      await held
    })
    const up = background(['up', '--url', url, '--dir', dir], { BOOT_MIGRATE_PROGRESS_MS: '50' })
    await expect.poll(up.said, eventually).toMatch(/0001_idx running for [\d.]+s; index t_x on t: waiting for writers before build/)
    release()
    await writer
    expect(await up.exit).toBe(0)
    expect(await sql`select indisvalid from pg_index where indexrelid = 't_x'::regclass`).toEqual([{ indisvalid: true }])
  })
})

describe('status and wait', () => {
  it('a wait replica on a dirty database says it is dirty, names the revision and the command that resolves it', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': users, '0002_idx.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently users_email on users (email);\n' })
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    const sql = client(url)
    // As a process killed in the middle of 0002 leaves it.
    await sql`update boot_migrate_history set state = 'running' where id = '0002'`
    await sql`drop index users_email`
    const r = cli(['wait', '--timeout', '300', '--json', '--url', url, '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.json().error).toEqual({
      code: 'DIRTY',
      message: expect.stringMatching(/the database is dirty: revision 0002_idx \(.*0002_idx\.sql\) is marked running.*`boot-migrate resolve 0002 --applied`.*`boot-migrate resolve 0002 --rolled-back`/),
    })
    expect(await sql`select id, state from boot_migrate_history order by id`).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'running' },
    ])
  })

  it('a revision that SET ROLE and left it so is named, with the advice, and nothing of it is applied', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    await sql`do $$ begin create role bm_cli_other; exception when duplicate_object then null; end $$`
    const dir = await revisions({ '0001_role.sql': '-- migrate:up\ncreate table t (x int);\nset role bm_cli_other;\nselect 1;\n' })
    const r = cli(['up', '--json', '--url', url, '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.json().error).toEqual({
      code: 'MIGRATION_FAILED',
      message: expect.stringMatching(/^Revision 0001_role \(.*0001_role\.sql\) changed the role with SET ROLE.*permission denied for table boot_migrate_history.*RESET ROLE.*nothing of it is applied/),
    })
    expect(await sql`select to_regclass('t') as t`).toEqual([{ t: null }])
    expect(await sql`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 0 }])
  })

  it('the same outside a transaction: its statements stay, the revision is dirty, and the message says how to resolve it', async () => {
    const url = await freshDatabase()
    const sql = client(url)
    await sql`do $$ begin create role bm_cli_other; exception when duplicate_object then null; end $$`
    const dir = await revisions({ '0001_role.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate table t (x int);\nset role bm_cli_other;\n' })
    const r = cli(['up', '--json', '--url', url, '--dir', dir])
    expect(r.json().error).toEqual({ code: 'MIGRATION_FAILED', message: expect.stringMatching(/changed the role with SET ROLE.*dirty.*`boot-migrate resolve 0001 --applied`/) })
    expect(await sql`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'running' }])
    // The session was reset after the revision, so resolving works from the CLI.
    expect(cli(['resolve', '0001', '--applied', '--url', url, '--dir', dir]).code).toBe(0)
  })
})
