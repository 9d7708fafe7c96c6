import { readdir } from 'node:fs/promises'
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
    for (const r of revs) expect(r.drizzle).toMatchObject({ hash: expect.stringMatching(/^[0-9a-f]{64}$/), when: expect.any(Number) })
  })

  it('reads the 1.0 layout produced by drizzle-kit up', async () => {
    const dir = await drizzleV1Folder('sqlite')
    const folders = (await readdir(dir)).filter((f) => /^\d{14}/.test(f))
    const revs = await loadRevisions({ dir }, lite)
    expect(revs).toHaveLength(3)
    expect(revs.map((r) => r.drizzle?.name)).toEqual(folders.sort())
    expect(revs.map((r) => r.id)).toEqual(folders.sort())
  })
})
