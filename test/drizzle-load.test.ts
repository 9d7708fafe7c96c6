import { createHash } from 'node:crypto'
import { readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadRevisions } from '../src/revisions/load.js'
import { drizzleFolder, drizzleV1Folder } from './drizzle-fixtures.js'

const lite = { dollarQuotes: false, brackets: true, nestedComments: false }

describe('reading drizzle-kit folders', () => {
  it('reads the 0.x layout in journal order with drizzle hashes and timestamps', async () => {
    const dir = await drizzleFolder('sqlite')
    const revs = await loadRevisions({ dir }, lite)
    expect(revs.map((r) => r.id)).toEqual(['0000', '0001', '0002'])
    expect(revs[1]!.up.kind === 'sql' && revs[1]!.up.statements.map((s) => s.text.split(/\s/)[0])).toEqual(['PRAGMA', 'CREATE', 'INSERT', 'DROP', 'ALTER', 'PRAGMA'])
    for (const r of revs) expect(r.origin).toMatchObject({ tool: 'drizzle', hash: expect.stringMatching(/^[0-9a-f]{64}$/), extra: { when: expect.any(Number) } })
  })

  it('reads the 1.0 layout produced by drizzle-kit up', async () => {
    const dir = await drizzleV1Folder('sqlite')
    const folders = (await readdir(dir)).filter((f) => /^\d{14}/.test(f))
    const revs = await loadRevisions({ dir }, lite)
    expect(revs).toHaveLength(3)
    expect(revs.map((r) => r.origin?.key)).toEqual(folders.sort())
    expect(revs.map((r) => r.id)).toEqual(folders.sort())
  })

  it('format overrides detection: "boot-migrate" reads a drizzle folder as ours (plain SQL files, no drizzle origin), "drizzle" reads 14-digit folders despite migration_lock.toml', async () => {
    const dir = await drizzleFolder('sqlite', 1)
    const ours = await loadRevisions({ dir, format: 'boot-migrate' }, lite)
    expect(ours.map((r) => [r.id, r.origin])).toEqual([['0000', undefined]])
    const v1 = await drizzleV1Folder('sqlite')
    await writeFile(join(v1, 'migration_lock.toml'), 'provider = "sqlite"\n')
    expect((await loadRevisions({ dir: v1 }, lite)).map((r) => r.origin?.tool)).toEqual(['prisma', 'prisma', 'prisma'])
    expect(await loadRevisions({ dir: v1, format: 'drizzle' }, lite)).toHaveLength(3)
  })

  it('drops a BEGIN/COMMIT wrapper from the statements it runs, keeps drizzle\'s hash of the file as written', async () => {
    const sql = 'BEGIN;\n--> statement-breakpoint\ninsert into t values (1);\n--> statement-breakpoint\nCOMMIT;\n'
    const dir = await drizzleFolder('sqlite', 1, { custom: { name: 'seed', sql } })
    const [, seed] = await loadRevisions({ dir }, lite)
    expect(seed!.up.kind === 'sql' && seed!.up.statements.map((s) => s.text)).toEqual(['insert into t values (1)'])
    expect(seed!.origin!.hash).toBe(createHash('sha256').update(sql).digest('hex'))
    expect(seed!.notice).toContain('BEGIN and COMMIT were dropped')
  })
})
