import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { revisions, root } from './helpers.js'
import { freshFile, open } from './sqlite-helpers.js'

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  return { code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout) }
}

const set = {
  '0001_users.sql': '-- migrate:up\ncreate table users (id integer primary key, email text);\n-- migrate:down\ndrop table users;\n',
  '0002_email.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\ndrop index users_email;\n',
}

describe('the boot-migrate CLI on SQLite', () => {
  it('up, status, down, stamp and sql work on a database file', async () => {
    const file = await freshFile()
    const dir = await revisions(set)
    const url = `sqlite:${file}`
    expect(cli(['up', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ applied: [{ id: '0001' }, { id: '0002' }] })
    expect(cli(['status', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ current: '0002', pending: [] })
    expect(cli(['down', '--to', 'base', '--json', '--url', url, '--dir', dir]).json()).toMatchObject({ reverted: [{ id: '0002' }, { id: '0001' }], current: null })
    open(file).exec('create table users (id integer primary key, email text)')
    expect(cli(['stamp', '0001', '--url', url, '--dir', dir]).code).toBe(0)
    const sql = cli(['sql', '--url', url, '--dir', dir])
    expect(sql.out).toContain('create index users_email on users (email);')
    expect(sql.out).not.toContain('create table users')
  })

  it('check --round-trip runs on a scratch SQLite file and catches a down that forgets an index', async () => {
    const url = `sqlite:${await freshFile()}`
    expect(cli(['check', '--round-trip', '--url', url, '--dir', await revisions(set)]).code).toBe(0)
    const broken = await revisions({ ...set, '0002_email.sql': '-- migrate:up\ncreate index users_email on users (email);\n-- migrate:down\nselect 1;\n' })
    const bad = cli(['check', '--round-trip', '--url', url, '--dir', broken])
    expect(bad.code).toBe(1)
    expect(bad.err).toContain('users_email')
  })

  it('check --dialect sqlite applies the SQLite rules without a database', async () => {
    const dir = await revisions({ '0001_vacuum.sql': '-- migrate:up\nvacuum;\n' })
    expect(cli(['check', '--dialect', 'sqlite', '--dir', dir])).toMatchObject({ code: 1, err: expect.stringContaining('VACUUM cannot run inside a transaction') })
  })
})
