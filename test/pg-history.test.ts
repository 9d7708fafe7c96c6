import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { client, freshDatabase, revisions } from './helpers.js'

describe('the history on PostgreSQL', () => {
  it('keeps the history in the configured schema and table', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '1_a.sql': '-- migrate:up\ncreate table a (x int);' })
    await createMigrator({ url, dir, schema: 'ops', table: 'schema "versions"', logger: false }).run()
    const sql = client(url)
    expect(await sql`select id from ops.${sql('schema "versions"')}`).toEqual([{ id: '1' }])
    expect(await sql`select to_regclass('public.boot_migrate_history') as t`).toEqual([{ t: null }])
  })
})
