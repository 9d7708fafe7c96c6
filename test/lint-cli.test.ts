import { spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { freshDatabase, revisions, root } from './helpers.js'

function cli(args: string[], cwd = root, bin = join(root, 'dist/cli.js')) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } })
  return { code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout) }
}

const users = '-- migrate:up\ncreate table users (id bigint primary key, email text);\n'
const unsafe = { '0001_users.sql': users, '0002_index.sql': '-- migrate:up\nselect 1;\ncreate index users_email on users (email);\n' }

describe('boot-migrate check: the unsafe-DDL lint', () => {
  it('exits 1 on a finding and prints file:line, the rule, why and the safe rewrite', async () => {
    const dir = await revisions(unsafe)
    const r = cli(['check', '--dir', dir])
    expect(r.code).toBe(1)
    expect(r.out).toContain(`${join(dir, '0002_index.sql')}:3 require-concurrent-index CREATE INDEX "users_email" on the existing table "users" without CONCURRENTLY`)
    expect(r.out).toMatch(/\n {2}why: CREATE INDEX holds a SHARE lock/)
    expect(r.out).toMatch(/\n {2}fix: CREATE INDEX CONCURRENTLY "users_email" ON "users"/)
    expect(r.out).toContain('1 finding(s)')
  })

  it('--warn-only reports the findings and exits 0', async () => {
    const r = cli(['check', '--warn-only', '--dir', await revisions(unsafe)])
    expect(r).toMatchObject({ code: 0, out: expect.stringContaining('require-concurrent-index') })
  })

  it('exits 0 on a folder whose DDL is safe, and --json carries the findings', async () => {
    const safe = await revisions({ '0001_users.sql': users, '0002_index.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently users_email on users (email);\n' })
    expect(cli(['check', '--dir', safe])).toMatchObject({ code: 0, out: expect.stringContaining('0 finding(s)') })
    const r = cli(['check', '--json', '--server-version', '10', '--dir', await revisions(unsafe)])
    expect(r.code).toBe(1)
    expect(r.json().lint).toMatchObject({ serverVersion: 10, findings: [{ revision: '0002', line: 3, rule: 'require-concurrent-index', why: expect.any(String), fix: expect.any(String) }] })
  })

  it("with --url, the rules follow the server's version", async () => {
    const url = await freshDatabase()
    const r = cli(['check', '--json', '--url', url, '--dir', await revisions(unsafe)])
    expect(r.json().lint.serverVersion).toBeGreaterThanOrEqual(10)
    expect(r.json().pending).toEqual(['0001', '0002'])
  })

  it('does not lint a SQLite folder', async () => {
    const r = cli(['check', '--dialect', 'sqlite', '--json', '--dir', await revisions(unsafe)])
    expect(r.code).toBe(0)
    expect(r.json().lint).toBeUndefined()
  })

  it("does not lint a folder that says it is SQLite's (drizzle-kit's journal)", async () => {
    const dir = await revisions({ '0000_init.sql': 'CREATE TABLE `users` (`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL);\n' })
    await mkdir(join(dir, 'meta'))
    const journal = { version: '7', dialect: 'sqlite', entries: [{ idx: 0, version: '6', when: 1700000000000, tag: '0000_init', breakpoints: true }] }
    await writeFile(join(dir, 'meta/_journal.json'), JSON.stringify(journal))
    const r = cli(['check', '--json', '--dir', dir])
    expect(r.code, r.err).toBe(0)
    expect(r.json()).toMatchObject({ revisions: 1 })
    expect(r.json().lint).toBeUndefined()
  })

  it('without the libpg-query package: check says the lint was skipped and exits 0; lint() fails with DRIVER_MISSING', async () => {
    // An install of boot-migrate with every package but libpg-query.
    const app = await mkdtemp(join(tmpdir(), 'bm-nolint-'))
    const pkg = join(app, 'node_modules/boot-migrate')
    await mkdir(pkg, { recursive: true })
    await cp(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
    await cp(join(root, 'package.json'), join(pkg, 'package.json'))
    for (const name of await readdir(join(root, 'node_modules')))
      if (!['libpg-query', 'boot-migrate', '.bin'].includes(name)) await symlink(join(root, 'node_modules', name), join(app, 'node_modules', name))
    const dir = await revisions(unsafe)
    const r = cli(['check', '--dir', dir], app, join(pkg, 'dist/cli.js'))
    expect(r).toMatchObject({ code: 0, out: expect.stringContaining('unsafe-DDL lint skipped: the libpg-query package is not installed (npm install --save-dev libpg-query)') })
    await writeFile(join(app, 'lint.mjs'), `import { lint } from 'boot-migrate'\nlint({ dir: ${JSON.stringify(dir)} }).catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })))\n`)
    const out = spawnSync(process.execPath, ['lint.mjs'], { cwd: app, encoding: 'utf8' })
    expect(JSON.parse(out.stdout)).toEqual({ code: 'DRIVER_MISSING', message: expect.stringContaining('npm install --save-dev libpg-query') })
  })
})
