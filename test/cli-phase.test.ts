import { describe, expect, it } from 'vitest'
import { cli, client, freshDatabase, revisions } from './helpers.js'

/** A table, a contract revision that drops one of its columns, and an expand revision after it. */
const folder = () =>
  revisions({
    '0001_users.sql': '-- migrate:up\ncreate table users (id int, email text, name text);\n',
    '0002_drop_name.sql': '-- migrate:phase contract\n-- migrate:up\nalter table users drop column name;\n',
    '0003_add_age.sql': '-- migrate:up\nalter table users add column age int;\n',
  })

const columns = async (url: string) => {
  const sql = client(url)
  try {
    return (await sql`select column_name from information_schema.columns where table_name = 'users' order by ordinal_position`).map((r) => r.column_name as string)
  } finally {
    await sql.end()
  }
}

describe('boot-migrate up --contract and status with contract revisions', () => {
  it('up defers the contract revision and names the command; up --contract applies it', async () => {
    const [url, dir] = [await freshDatabase(), await folder()]
    const up = cli(['up', '--url', url, '--dir', dir])
    expect(up.code).toBe(0)
    expect(up.out.trim()).toMatch(/^applied 0001 \(\d+ ms\), 0003 \(\d+ ms\); at 0003; 1 deferred \(0002\): apply with boot-migrate up --contract after the rollout$/)
    expect(up.err).toContain('1 contract revision(s) wait for `boot-migrate up --contract`')
    expect(await columns(url)).toEqual(['id', 'email', 'name', 'age'])

    const contract = cli(['up', '--contract', '--json', '--url', url, '--dir', dir])
    expect(contract.code).toBe(0)
    expect(contract.json()).toMatchObject({ applied: [{ id: '0002' }], current: '0003', deferred: [] })
    expect(await columns(url)).toEqual(['id', 'email', 'age'])
  })

  it('status marks a pending contract revision and says which command applies it', async () => {
    const [url, dir] = [await freshDatabase(), await folder()]
    expect(cli(['up', '--url', url, '--dir', dir]).code).toBe(0)
    const text = cli(['status', '--url', url, '--dir', dir]).out
    expect(text).toMatch(/0002\s+drop_name\s+pending \(contract\)/)
    expect(text).toContain('current 0003, head 0003, 1 pending (contract: 0002: applied by `up --contract`)')
    const json = cli(['status', '--json', '--url', url, '--dir', dir]).json()
    expect(json.revisions.map((r: { id: string; state: string; phase: string }) => [r.id, r.state, r.phase])).toEqual([
      ['0001', 'applied', 'expand'],
      ['0002', 'pending', 'contract'],
      ['0003', 'applied', 'expand'],
    ])
  })

  it('up --contract-blocks stops before the first contract revision', async () => {
    const [url, dir] = [await freshDatabase(), await folder()]
    const up = cli(['up', '--contract-blocks', '--json', '--url', url, '--dir', dir])
    expect(up.code).toBe(0)
    expect(up.json()).toMatchObject({ applied: [{ id: '0001' }], current: '0001', deferred: ['0002', '0003'] })
    expect(await columns(url)).toEqual(['id', 'email', 'name'])
  })

  it('up with both --contract and --contract-blocks is a usage error (exit 2)', async () => {
    const dir = await folder()
    const r = cli(['up', '--contract', '--contract-blocks', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir])
    expect(r.code).toBe(2)
    expect(r.err).toContain('Pass one of them')
  })

  it('sql prints the expand revisions only; sql --contract prints the contract revision too, in id order', async () => {
    const dir = await folder()
    const offline = ['--from', 'base', '--url', 'postgres://nobody@127.0.0.1:1/none', '--dir', dir]
    const expand = cli(['sql', ...offline])
    expect(expand.code).toBe(0)
    expect(expand.out).not.toContain('drop column name')
    expect(expand.out).toContain('add column age')
    const all = cli(['sql', '--contract', ...offline]).out
    expect(all.indexOf('drop column name')).toBeGreaterThan(all.indexOf('create table users'))
    expect(all.indexOf('add column age')).toBeGreaterThan(all.indexOf('drop column name'))
  })
})
