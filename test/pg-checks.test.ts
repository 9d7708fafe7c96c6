import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { client, freshDatabase, revisions } from './helpers.js'

const run = (url: string, dir: string, extra: Record<string, unknown> = {}) => createMigrator({ url, dir, logger: false, ...extra }).run()

describe('checks at boot', () => {
  it('refuses to boot when an applied file was edited, naming the file', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': '-- migrate:up\ncreate table users (id int);\n' })
    await run(url, dir)
    await writeFile(join(dir, '0001_users.sql'), '-- migrate:up\ncreate table users (id bigint);\n')
    await expect(run(url, dir)).rejects.toMatchObject({
      code: 'CHECKSUM_MISMATCH',
      revision: '0001',
      message: expect.stringContaining(join(dir, '0001_users.sql')),
    })
  })

  it('accepts later edits to the down section, comments and line endings of an applied file', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_users.sql': '-- migrate:up\ncreate table users (id int);\n' })
    await run(url, dir)
    await writeFile(join(dir, '0001_users.sql'), '-- a note\r\n-- migrate:up\r\ncreate table users (id int);\r\n\r\n-- migrate:down\r\ndrop table users;\r\n')
    await expect(run(url, dir)).resolves.toMatchObject({ upToDate: true })
  })

  it('refuses a pending revision that sorts before an applied one', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;', '0003_c.sql': '-- migrate:up\nselect 1;' })
    await run(url, dir)
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\ncreate table b (x int);')
    await expect(run(url, dir)).rejects.toMatchObject({ code: 'OUT_OF_ORDER', revision: '0002', message: expect.stringContaining('allowOutOfOrder') })
    expect(await client(url)`select to_regclass('b') as t`).toEqual([{ t: null }])
  })

  it('applies an out-of-order revision when allowOutOfOrder is set', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;', '0003_c.sql': '-- migrate:up\nselect 1;' })
    await run(url, dir)
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\ncreate table b (x int);')
    await expect(run(url, dir, { allowOutOfOrder: true })).resolves.toMatchObject({ applied: [{ id: '0002' }], current: '0003' })
  })

  it('reports applied revisions this code does not ship and boots anyway (rolling deploys)', async () => {
    const url = await freshDatabase()
    const newer = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;', '0002_b.sql': '-- migrate:up\nselect 1;' })
    const older = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;' })
    await run(url, newer)
    await expect(run(url, older)).resolves.toMatchObject({ upToDate: true, unknown: ['0002'], current: '0002' })
  })

  it('rejects a statement that cannot run in a transaction before anything runs, saying which directive to add', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_idx.sql': '-- migrate:up\n\ncreate index concurrently t_x on t (x);\n',
    })
    const error = await run(url, dir).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'INVALID_REVISION', revision: '0002', line: 3 })
    expect((error as Error).message).toContain('CREATE INDEX CONCURRENTLY cannot run inside a transaction')
    expect((error as Error).message).toContain('-- migrate:no-transaction')
    expect(await client(url)`select to_regclass('t') as t, to_regclass('boot_migrate_history') as h`).toEqual([{ t: null, h: null }])
  })

  it('rejects COMMIT inside a transactional revision', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ncommit;\n' })
    await expect(run(url, dir)).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 3 })
  })

  it('rejects options it cannot use with INVALID_OPTIONS', async () => {
    await expect(createMigrator({ dir: '.' }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await expect(createMigrator({ url: 'mongodb://x', dir: '.', logger: false }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await expect(createMigrator({ url: 'postgres://x', dir: '.', lockTimeout: -1, logger: false }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })
})
