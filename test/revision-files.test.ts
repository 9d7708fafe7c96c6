// Loader details of issue 11 that need no database: what is read from a folder on disk and how.
// The behaviour at boot, against each database, is in test/contract/revision-files.test.ts.
import { createHash } from 'node:crypto'
import { mkdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compareIds, idKey } from '../src/revisions/ids.js'
import { loadRevisions } from '../src/revisions/load.js'
import { revisions } from './helpers.js'

const pg = { dollarQuotes: true, brackets: false, nestedComments: true }
const up = (sql: string) => `-- migrate:up\n${sql}\n`

describe('ids', () => {
  it('are one id when they are the same number, and still sort in a fixed order', () => {
    expect(idKey('0001')).toBe(idKey('1'))
    expect(idKey('0')).toBe(idKey('000'))
    expect(idKey('0001a')).not.toBe(idKey('1a'))
    expect(['1', '01', '2', '001', '10'].sort(compareIds)).toEqual(['001', '01', '1', '2', '10'])
  })

  it('refuses numerically equal ids in an array of revisions too', async () => {
    await expect(loadRevisions({ migrations: [{ id: '1', up: 'select 1' }, { id: '001', up: 'select 2' }] }, pg)).rejects.toMatchObject({
      code: 'INVALID_REVISION',
      message: expect.stringContaining('Duplicate revision id 1 (the same number as 001): migrations[1] and migrations[0]'),
    })
  })
})

describe('a folder on disk', () => {
  it('reads a symbolic link to a drizzle-kit 1.0 folder as a folder', async () => {
    const elsewhere = await revisions({})
    await mkdir(join(elsewhere, '20240101000000_init'))
    await writeFile(join(elsewhere, '20240101000000_init', 'migration.sql'), 'create table a (x int);\n')
    const dir = await revisions({})
    await symlink(join(elsewhere, '20240101000000_init'), join(dir, '20240101000000_init'))
    expect((await loadRevisions({ dir }, pg)).map((r) => r.id)).toEqual(['20240101000000_init'])
  })

  it("keeps a byte-order mark in drizzle's own hash (drizzle hashes the file as it reads it) but not in the SQL", async () => {
    const dir = await revisions({})
    await mkdir(join(dir, '20240101000000_init'))
    const text = '\ufeffcreate table a (x int);\n'
    await writeFile(join(dir, '20240101000000_init', 'migration.sql'), text)
    const [r] = await loadRevisions({ dir }, pg)
    expect(r!.origin!.hash).toBe(createHash('sha256').update(text).digest('hex'))
    expect(r!.up).toMatchObject({ kind: 'sql', text: 'create table a (x int);' })
    expect(r!.up.kind === 'sql' && r!.up.statements[0]!.text.charCodeAt(0)).toBe('c'.charCodeAt(0))
  })

  it('refuses a drizzle-kit file that is not UTF-8, with its line', async () => {
    const dir = await revisions({})
    await mkdir(join(dir, '20240101000000_init'))
    await writeFile(join(dir, '20240101000000_init', 'migration.sql'), Buffer.from("create table a (x text);\ninsert into a values ('\xe9');\n", 'latin1'))
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 2, file: join(dir, '20240101000000_init', 'migration.sql') })
  })

  it('names a UTF-16 file as such', async () => {
    const dir = await revisions({})
    await writeFile(join(dir, '0001_a.sql'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(up('select 1;'), 'utf16le')]))
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('the file is UTF-16') })
  })

  it('refuses a module whose extension is not in lower case (Node.js would not import it), naming the new name', async () => {
    const dir = await revisions({ '0001_a.MJS': 'export const up = "select 1"\n' })
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', message: expect.stringContaining('rename it to 0001_a.mjs') })
  })

  it('refuses a folder named like a revision file', async () => {
    const dir = await revisions({})
    await mkdir(join(dir, '0001_a.sql'))
    await expect(loadRevisions({ dir }, pg)).rejects.toMatchObject({ code: 'INVALID_REVISION', file: join(dir, '0001_a.sql') })
  })

  it('ignores a dangling link whose name is not a revision, and dot entries', async () => {
    const dir = await revisions({ '0001_a.sql': up('select 1;'), '.0002_hidden.sql': 'not read' })
    await symlink('missing', join(dir, 'README.md'))
    await symlink('missing', join(dir, '..data'))
    expect((await loadRevisions({ dir }, pg)).map((r) => r.id)).toEqual(['0001'])
  })

  it('reads a golang-migrate-like name as a revision when the file is one of ours (has -- migrate:up)', async () => {
    const dir = await revisions({ '0001_a.up.sql': up('select 1;') })
    expect((await loadRevisions({ dir }, pg)).map((r) => [r.id, r.name])).toEqual([['0001', 'a.up']])
  })

  it('sees a link retargeted to a file of the same size and mtime (the folder cache follows links)', async () => {
    const store = await revisions({ 'x.sql': up('select 1;'), 'y.sql': up('select 2;') })
    const dir = await revisions({})
    await symlink(join(store, 'x.sql'), join(dir, '0001_a.sql'))
    for (const f of ['x.sql', 'y.sql']) await utimes(join(store, f), 1_700_000_000, 1_700_000_000)
    expect((await stat(join(store, 'x.sql'))).mtimeMs).toBe((await stat(join(store, 'y.sql'))).mtimeMs)
    const [first] = await loadRevisions({ dir }, pg)
    await rm(join(dir, '0001_a.sql'))
    await symlink(join(store, 'y.sql'), join(dir, '0001_a.sql'))
    const [second] = await loadRevisions({ dir }, pg)
    expect(second!.checksum).not.toBe(first!.checksum)
  })

  it('sees the folder link retargeted to a folder whose files have the same names, sizes and mtimes', async () => {
    const v1 = await revisions({ '0001_a.sql': up('select 1;') })
    const v2 = await revisions({ '0001_a.sql': up('select 2;') })
    for (const v of [v1, v2]) await utimes(join(v, '0001_a.sql'), 1_700_000_000, 1_700_000_000)
    const dir = join(await revisions({}), 'current')
    await symlink(v1, dir)
    const [first] = await loadRevisions({ dir }, pg)
    await rm(dir)
    await symlink(v2, dir)
    const [second] = await loadRevisions({ dir }, pg)
    expect(second!.checksum).not.toBe(first!.checksum)
  })
})
