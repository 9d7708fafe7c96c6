// How a statement timeout is read from revision files, modules and entries; needs no database. What it does at
// boot, against each database, is in test/contract/statement-timeout.test.ts.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { loadRevisions } from '../src/revisions/load.js'
import { parseDuration } from '../src/revisions/duration.js'
import { revisions } from './helpers.js'
import { freshFile } from './sqlite-helpers.js'

const pg = { dollarQuotes: true, brackets: false, nestedComments: true }
const load = async (files: Record<string, string>) => loadRevisions({ dir: await revisions(files) }, pg)

describe('statement timeout durations', () => {
  it('reads ms, s, min and h, and a plain number as milliseconds', () => {
    expect(['500ms', '30s', '5min', '2h', '1500', '1.5s'].map(parseDuration)).toEqual([500, 30_000, 300_000, 7_200_000, 1500, 1500])
  })

  it('refuses zero, negative values, unknown units and the ambiguous "m"', () => {
    expect(['0', '0s', '-1s', '5m', '5 minutes', '', 'soon', '30d'].map(parseDuration)).toEqual(Array(8).fill(undefined))
  })
})

describe('-- migrate:statement-timeout', () => {
  it('sets the revision timeout and keeps statement lines those of the file', async () => {
    const [rev] = await load({ '0001_a.sql': '-- migrate:up\n-- migrate:statement-timeout 5min\nselect 1;\nselect 2;\n' })
    expect(rev!.statementTimeout).toEqual({ ms: 300_000, line: 2 })
    expect(rev!.up.kind === 'sql' && rev!.up.statements.map((s) => s.line)).toEqual([3, 4])
  })

  it('does not change the checksum: the same file without the directive has the same one', async () => {
    const [a] = await load({ '0001_a.sql': '-- migrate:up\n-- migrate:statement-timeout 30s\nselect 1;\n' })
    const [b] = await load({ '0001_a.sql': '-- migrate:up\nselect 1;\n' })
    expect(a!.checksum).toBe(b!.checksum)
  })

  it('refuses a value that is not a duration with INVALID_REVISION at its line', async () => {
    await expect(load({ '0001_a.sql': '-- migrate:up\nselect 1;\n-- migrate:statement-timeout 5 minutes\n' })).rejects.toMatchObject({
      code: 'INVALID_REVISION',
      line: 3,
      message: expect.stringContaining('0001_a.sql:3: "-- migrate:statement-timeout 5 minutes": the timeout must be a duration such as 500ms, 30s, 5min or 2h'),
    })
  })

  it('refuses the directive without a value', async () => {
    await expect(load({ '0001_a.sql': '-- migrate:up\n-- migrate:statement-timeout\nselect 1;\n' })).rejects.toMatchObject({ code: 'INVALID_REVISION', line: 2 })
  })

  it('refuses a second directive, naming the first', async () => {
    await expect(load({ '0001_a.sql': '-- migrate:up\n-- migrate:statement-timeout 1s\n-- migrate:statement-timeout 2s\nselect 1;\n' })).rejects.toMatchObject({
      code: 'INVALID_REVISION',
      line: 3,
      message: expect.stringContaining('the first is at line 2'),
    })
  })
})

describe('statementTimeout of modules and entries', () => {
  it('reads an exported statementTimeout of a module, in ms or as a duration', async () => {
    const dir = await revisions({})
    await writeFile(join(dir, '0001_a.mjs'), "export const statementTimeout = '2min'\nexport async function up(ctx) {}\n")
    await writeFile(join(dir, '0002_b.mjs'), 'export const statementTimeout = 1500\nexport async function up(ctx) {}\n')
    const revs = await loadRevisions({ dir }, pg)
    expect(revs.map((r) => r.statementTimeout)).toEqual([{ ms: 120_000 }, { ms: 1500 }])
  })

  it('refuses a migrations entry whose statementTimeout is not a duration', async () => {
    await expect(loadRevisions({ migrations: [{ id: '0001', up: 'select 1', statementTimeout: 'later' }] }, pg)).rejects.toMatchObject({
      code: 'INVALID_REVISION',
      message: expect.stringContaining('"statementTimeout" must be a duration such as 500ms'),
    })
  })
})

describe('the statementTimeout option', () => {
  it('is invalid at 0: a timeout is at least 1 ms', async () => {
    const m = createMigrator({ url: `sqlite:${await freshFile()}`, migrations: [], statementTimeout: 0, logger: false })
    await expect(m.run()).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('"statementTimeout" must be a number of milliseconds from 1') })
  })
})
