import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type Connection } from './targets.js'

describe.each(targets)('checks at boot ($label)', (target) => {
  const run = (connection: Connection, dir: string, extra: Record<string, unknown> = {}) => createMigrator({ ...connection, dir, ...quiet, ...extra }).run()

  it('refuses to boot when an applied file was edited, naming the file', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_users.sql': '-- migrate:up\ncreate table users (id int);\n' })
    await run(db.connection, dir)
    await writeFile(join(dir, '0001_users.sql'), '-- migrate:up\ncreate table users (id bigint);\n')
    const error = await failure(run(db.connection, dir))
    expect(error).toMatchObject({ code: 'CHECKSUM_MISMATCH', revision: '0001' })
    expect(error.message).toContain(join(dir, '0001_users.sql'))
  })

  it('accepts later edits to the down section, comments and line endings of an applied file', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_users.sql': '-- migrate:up\ncreate table users (id int);\n' })
    await run(db.connection, dir)
    await writeFile(join(dir, '0001_users.sql'), '-- a note\r\n-- migrate:up\r\ncreate table users (id int);\r\n\r\n-- migrate:down\r\ndrop table users;\r\n')
    await expect(run(db.connection, dir)).resolves.toMatchObject({ upToDate: true })
  })

  it('refuses a pending revision that sorts before an applied one, naming allowOutOfOrder', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0003_c.sql': '-- migrate:up\ncreate table c (x int);\n' })
    await run(db.connection, dir)
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\ncreate table b (x int);\n')
    const error = await failure(run(db.connection, dir))
    expect(error).toMatchObject({ code: 'OUT_OF_ORDER', revision: '0002' })
    expect(error.message).toContain('allowOutOfOrder')
    expect(await db.tables()).not.toContain('b')
  })

  it('applies an out-of-order revision when allowOutOfOrder is set', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n', '0003_c.sql': '-- migrate:up\ncreate table c (x int);\n' })
    await run(db.connection, dir)
    await writeFile(join(dir, '0002_b.sql'), '-- migrate:up\ncreate table b (x int);\n')
    const result = await run(db.connection, dir, { allowOutOfOrder: true })
    expect(result).toMatchObject({ applied: [{ id: '0002' }], current: '0003' })
    expect(result.applied.map((r) => r.id)).toEqual(['0002'])
    expect(await db.tables()).toContain('b')
  })

  it('reports applied revisions this code does not ship and boots anyway (rolling deploys)', async () => {
    const db = await target.fresh()
    const newer = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;', '0002_b.sql': '-- migrate:up\nselect 1;' })
    const older = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;' })
    await run(db.connection, newer)
    await expect(run(db.connection, older)).resolves.toMatchObject({ upToDate: true, unknown: ['0002'], current: '0002' })
  })

  it('rejects COMMIT inside a transactional revision before anything runs', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\ncommit;\n' })
    await expect(run(db.connection, dir)).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 3 })
    expect(await db.tables()).toEqual([])
  })

  it('rejects options it cannot use with INVALID_OPTIONS', async () => {
    const db = await target.fresh()
    await expect(createMigrator({ dir: '.' }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await expect(createMigrator({ url: 'mongodb://x', dir: '.', ...quiet }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
    await expect(createMigrator({ ...db.connection, dir: '.', lockTimeout: -1, ...quiet }).run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS' })
  })
})
