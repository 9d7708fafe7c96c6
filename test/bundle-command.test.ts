import { spawnSync } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createMigrator, type RevisionInput } from '../src/index.js'
import { drizzleFolder } from './drizzle-fixtures.js'
import { cli, client, freshDatabase, revisions, root } from './helpers.js'
import { prismaFolder } from './prisma-fixtures.js'
import { files, folder, migrations } from './sql-tools-fixtures.js'
import { supabaseProject } from './supabase-fixtures.js'

// `boot-migrate bundle <dir> --out <file>`: the folder's revisions as a module, used as migrate({ migrations }).
// The CLI runs as a real process; each database is a real PostgreSQL database (SQLite where said).

/** Runs `bundle` and imports what it wrote. */
async function bundle(dir: string, ext = '.mjs', ...flags: string[]): Promise<RevisionInput[]> {
  const out = join(await mkdtemp(join(tmpdir(), 'bm-bundle-')), `migrations${ext}`)
  const r = cli(['bundle', dir, '--out', out, ...flags])
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
  if (ext === '.cjs') return createRequire(import.meta.url)(out) as RevisionInput[]
  return ((await import(pathToFileURL(out).href)) as { default: RevisionInput[] }).default
}

const history = async (url: string) =>
  client(url).unsafe(`select id, name, checksum, state, down_sql, applied_at, applied_by from boot_migrate_history order by id`)

const ownFolder = () =>
  revisions({
    '0001_users.sql': '-- migrate:up\ncreate table users (id int primary key, email text);\n-- migrate:down\ndrop table users;\n',
    '0002_touch.sql':
      '-- migrate:up\n\ncreate function touch() returns trigger language plpgsql as $$\nbegin\n  new.email := lower(new.email); return new;\nend;\n$$;\n' +
      'create trigger users_touch before insert on users for each row execute function touch();\n-- migrate:down\ndrop trigger users_touch on users;\ndrop function touch();\n',
    '0003_index.sql': '-- migrate:up\n-- migrate:no-transaction\ncreate index concurrently users_email on users (email);\n',
  })

const folders: Array<[string, () => Promise<string>]> = [
  ["boot-migrate's own format", ownFolder],
  ["drizzle-kit's folder", () => drizzleFolder('postgresql')],
  ["goose's folder", () => folder(files('goose', migrations('goose', 'postgres')))],
]

describe('boot-migrate bundle', () => {
  for (const [what, make] of folders) {
    it(`gives ${what} with the ids and checksums of reading the folder`, async () => {
      const dir = await make()
      const url = await freshDatabase()
      const fromDir = await createMigrator({ url, dir, logger: false }).revisions()
      const fromBundle = await createMigrator({ url, migrations: await bundle(dir), logger: false }).revisions()
      expect(fromBundle.map(({ id, name, checksum, transaction, reversible }) => ({ id, name, checksum, transaction, reversible }))).toEqual(
        fromDir.map(({ id, name, checksum, transaction, reversible }) => ({ id, name, checksum, transaction, reversible })),
      )
      expect(fromBundle.length).toBeGreaterThan(0)
    })

    it(`runs nothing and changes no history row when ${what} migrated with dir is then booted with its bundle`, async () => {
      const dir = await make()
      const url = await freshDatabase()
      const first = await createMigrator({ url, dir, logger: false }).run()
      expect(first.applied.length).toBeGreaterThan(0)
      const before = await history(url)
      const second = await createMigrator({ url, migrations: await bundle(dir), logger: false }).run()
      expect(second).toMatchObject({ applied: [], upToDate: true, current: first.current })
      expect(await history(url)).toEqual(before)
    })

    it(`runs nothing and changes no history row when ${what} migrated with its bundle is then booted with dir`, async () => {
      const dir = await make()
      const url = await freshDatabase()
      const first = await createMigrator({ url, migrations: await bundle(dir, '.cjs'), logger: false }).run()
      expect(first.applied.length).toBeGreaterThan(0)
      const before = await history(url)
      const second = await createMigrator({ url, dir, logger: false }).run()
      expect(second).toMatchObject({ applied: [], upToDate: true, current: first.current })
      expect(await history(url)).toEqual(before)
    })
  }

  it('holds the ids, checksums, statements, sources and origins that reading the folder gives, in every layout dir reads', async () => {
    const { loadRevisions } = await import('../src/revisions/load.js')
    const syntax = { dollarQuotes: true, brackets: false, nestedComments: true }
    // [layout, the tool reading it (an own-format folder of SQL files is one dbmate could run: read as dbmate's), folder]
    const layouts: Array<[string, string, () => Promise<string>]> = [
      ['own', 'dbmate', ownFolder],
      ['drizzle', 'drizzle', () => drizzleFolder('postgresql')],
      ['goose', 'goose', () => folder(files('goose', migrations('goose', 'postgres')))],
      ['prisma', 'prisma', () => prismaFolder('postgres')],
      ['supabase', 'supabase', async () => (await supabaseProject()).dir],
      ['golang-migrate', 'golang-migrate', () => folder(files('golang-migrate', migrations('golang-migrate', 'postgres')))],
      ['dbmate', 'dbmate', () => folder(files('dbmate', migrations('dbmate', 'postgres')))],
      [
        'flyway',
        'flyway',
        () =>
          revisions({
            'V1__create_users.sql': '-- users\r\ncreate table users (id int primary key, name varchar(100) not null);\r\n',
            'V1_1__add_email.sql': 'alter table users add column email varchar(200);\n',
            'V10__items.sql': 'create table items (id int primary key, user_id int references users (id));\ncreate index items_user on items (user_id);\n',
            'U10__items.sql': 'drop table items;\n',
          }),
      ],
    ]
    for (const [layout, tool, make] of layouts) {
      const dir = await make()
      const read = await loadRevisions({ dir }, syntax)
      expect(read.find((r) => r.origin)?.origin?.tool, layout).toBe(tool)
      const shape = (list: Awaited<ReturnType<typeof loadRevisions>>) =>
        list.map((r) => ({ id: r.id, source: r.source, checksum: r.checksum, origin: r.origin, notice: r.notice, up: r.up.kind === 'sql' && [r.up.text, r.up.statements], down: r.down?.kind === 'sql' && [r.down.text, r.down.statements] }))
      expect(shape(await loadRevisions({ migrations: await bundle(dir) }, syntax)), layout).toEqual(shape(read))
    }
  })

  it("keeps drizzle's own history in step from a bundle as from the folder (takeover.keepHistory)", async () => {
    const dir = await drizzleFolder('postgresql')
    const url = await freshDatabase()
    await createMigrator({ url, migrations: await bundle(dir), takeover: { keepHistory: true }, logger: false }).run()
    const rows = await client(url).unsafe('select hash, created_at from drizzle.__drizzle_migrations order by created_at')
    expect(rows.length).toBeGreaterThan(0)
    // drizzle's own migrator, pointed at the folder, finds everything applied.
    const second = await createMigrator({ url, dir, takeover: { keepHistory: true }, logger: false }).run()
    expect(second.applied).toEqual([])
    expect(await client(url).unsafe('select hash, created_at from drizzle.__drizzle_migrations order by created_at')).toEqual(rows)
  })

  it('writes CommonJS for .cjs, an ES module for .mjs, and for .js what the nearest package.json says', async () => {
    const dir = await ownFolder()
    const esm = await mkdtemp(join(tmpdir(), 'bm-bundle-esm-'))
    await writeFile(join(esm, 'package.json'), '{"type":"module"}')
    expect(cli(['bundle', dir, '--out', join(esm, 'm.js')]).out).toContain('ES module')
    const cjs = await mkdtemp(join(tmpdir(), 'bm-bundle-cjs-'))
    await writeFile(join(cjs, 'package.json'), '{"type":"commonjs"}')
    expect(cli(['bundle', dir, '--out', join(cjs, 'm.js')]).out).toContain('CommonJS')
    const list = createRequire(import.meta.url)(join(cjs, 'm.js')) as RevisionInput[]
    expect(list.map((r) => r.id)).toEqual(['0001', '0002', '0003'])
  })

  it('refuses a folder with a function revision, naming the file, and writes nothing', async () => {
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\nselect 1;\n', '0002_seed.mjs': 'export async function up(ctx) { await ctx.exec("select 1") }\n' })
    const out = join(await mkdtemp(join(tmpdir(), 'bm-bundle-')), 'm.mjs')
    const r = cli(['bundle', dir, '--out', out])
    expect(r.code).toBe(1)
    expect(r.err).toContain('INVALID_REVISION')
    expect(r.err).toContain(join(dir, '0002_seed.mjs'))
    expect(r.err).toContain('function revision')
    expect(spawnSync('test', ['-e', out]).status).toBe(1)
  })

  it('refuses a bundle made for another database before anything runs', async () => {
    const url = await freshDatabase()
    const sqliteBundle = await bundle(await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (id int);\n' }), '.mjs', '--dialect', 'sqlite')
    await expect(createMigrator({ url, migrations: sqliteBundle, logger: false }).run()).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('--dialect postgres'),
    })
    expect(await client(url).unsafe(`select to_regclass('public.a') as t`)).toEqual([{ t: null }])
  })

  it('applies a SQLite bundle where the folder would, with the same history', async () => {
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (id integer primary key, v text);\ncreate trigger a_t after insert on a begin\n  update a set v = upper(v) where id = new.id;\nend;\n-- migrate:down\ndrop table a;\n',
      '0002_b.sql': "-- migrate:up\ninsert into a (v) values ('x');\n",
    })
    const work = await mkdtemp(join(tmpdir(), 'bm-bundle-sqlite-'))
    const viaDir = await createMigrator({ url: `sqlite:${join(work, 'dir.db')}`, dir, logger: false }).run()
    const viaBundle = await createMigrator({ url: `sqlite:${join(work, 'bundle.db')}`, migrations: await bundle(dir, '.mjs', '--dialect', 'sqlite'), logger: false }).run()
    expect(viaBundle.applied.map((a) => a.id)).toEqual(viaDir.applied.map((a) => a.id))
    const Database = (await import('better-sqlite3')).default
    const rows = (f: string) => new Database(join(work, f)).prepare('select id, name, checksum, down_sql from boot_migrate_history order by id').all()
    expect(rows('bundle.db')).toEqual(rows('dir.db'))
    expect(new Database(join(work, 'bundle.db')).prepare('select v from a').all()).toEqual([{ v: 'X' }])
  })
})
