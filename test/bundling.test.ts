import { spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, type BuildOptions } from 'esbuild'
import webpack from 'webpack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMigrator as postgresMigrator } from '../src/entries/postgres.js'
import { createMigrator as sqliteMigrator } from '../src/entries/sqlite.js'
import type { MigrationError } from '../src/index.js'
import { client, freshDatabase, root } from './helpers.js'
import { describeMysql, freshMysqlDatabase, mysqlClient } from './mysql-helpers.js'
import { open, tempDir } from './sqlite-helpers.js'

/**
 * Servers an app would write, bundled by esbuild, webpack and @vercel/ncc from a project that installed
 * boot-migrate as a package, and run from a folder that holds the bundle and the migrations and nothing else,
 * except, for SQLite, the better-sqlite3 package: a native addon, external in every bundler (README, "Bundling").
 */
const require = createRequire(import.meta.url)
const ncc = require('@vercel/ncc') as (entry: string, options: object) => Promise<{ code: string; assets?: Record<string, { source: Buffer | string }> }>

const MIGRATIONS = {
  '0001_users.sql': '-- migrate:up\ncreate table users (id integer primary key, email text not null);\n\n-- migrate:down\ndrop table users;\n',
  '0002_posts.sql': '-- migrate:up\ncreate table posts (id integer primary key, title text);\n',
  // A JS revision is imported from disk at run time, by path: the bundlers must leave that import alone.
  '0003_seed.mjs': "export async function up({ exec }) {\n  await exec(\"insert into users (id, email) values (1, 'a@example.com')\")\n}\n",
}

/** A server's body: migrates at boot, prints what it applied, exits 0; on failure prints the error code and exits 1. */
const body = (options: string, before = '', after = '') => `
async function main() {
  ${before}
  try {
    const result = await migrate({ ${options}, dir: './migrations', logger: false })
    console.log(JSON.stringify({ applied: result.applied.map((a) => a.id), current: result.current }))
  } finally {
    ${after}
  }
}
main().catch((e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); process.exitCode = 1 })
`

const servers = {
  /** The case: the app passes its postgres.js client. */
  postgresClient: (entry: string, esm: boolean) =>
    (esm ? `import postgres from 'postgres'\nimport { migrate } from '${entry}'\n` : `const postgres = require('postgres')\nconst { migrate } = require('${entry}')\n`) +
    body('client: sql', "const sql = postgres(process.env.DATABASE_URL, { onnotice: () => {} })", 'await sql.end()'),
  /** No client: boot-migrate imports postgres.js itself. */
  postgresUrl: (entry: string, esm: boolean) =>
    (esm ? `import { migrate } from '${entry}'\n` : `const { migrate } = require('${entry}')\n`) + body('url: process.env.DATABASE_URL'),
  sqliteClient: (entry: string, esm: boolean) =>
    (esm ? `import Database from 'better-sqlite3'\nimport { migrate } from '${entry}'\n` : `const Database = require('better-sqlite3')\nconst { migrate } = require('${entry}')\n`) +
    body('client: db', 'const db = new Database(process.env.DATABASE_FILE)', 'db.close()'),
  mysqlUrl: (entry: string, esm: boolean) =>
    (esm ? `import { migrate } from '${entry}'\n` : `const { migrate } = require('${entry}')\n`) + body('url: process.env.DATABASE_URL'),
  sqliteUrl: (entry: string, esm: boolean) =>
    (esm ? `import { migrate } from '${entry}'\n` : `const { migrate } = require('${entry}')\n`) + body("url: 'sqlite:' + process.env.DATABASE_FILE"),
}

let project: string
const folders: string[] = []
const sqliteExternal = ['better-sqlite3']

beforeAll(async () => {
  // An app's project: boot-migrate installed as the package (dist and package.json), the drivers it uses, no drizzle-orm.
  project = await mkdtemp(join(tmpdir(), 'boot-migrate-bundle-app-'))
  folders.push(project)
  const pkg = join(project, 'node_modules/boot-migrate')
  await mkdir(pkg, { recursive: true })
  await cp(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
  await cp(join(root, 'package.json'), join(pkg, 'package.json'))
  for (const dep of ['postgres', 'better-sqlite3', 'mysql2']) await symlink(join(root, 'node_modules', dep), join(project, 'node_modules', dep))
  await writeFile(join(project, 'package.json'), '{ "name": "app", "private": true }\n')
})

afterAll(async () => {
  for (const f of folders) await rm(f, { recursive: true, force: true })
})

type Bundler = 'esbuild-esm' | 'esbuild-cjs' | 'webpack' | 'ncc'

const ESM_REQUIRE = "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"

/** Bundles `source` with `bundler` into a new empty folder outside the project; returns the file to run. */
async function bundle(bundler: Bundler, source: string, external: string[] = [], banner?: string): Promise<string> {
  const esm = bundler === 'esbuild-esm'
  const entry = join(project, `server-${Math.random().toString(36).slice(2)}.${esm ? 'mjs' : bundler === 'ncc' ? 'cjs' : 'js'}`)
  await writeFile(entry, source)
  const out = await mkdtemp(join(tmpdir(), `boot-migrate-bundle-${bundler}-`))
  folders.push(out)
  if (bundler === 'esbuild-esm' || bundler === 'esbuild-cjs') {
    const file = join(out, esm ? 'server.mjs' : 'server.cjs')
    await build({ entryPoints: [entry], outfile: file, bundle: true, platform: 'node', format: esm ? 'esm' : 'cjs', external, logLevel: 'silent', ...(banner ? { banner: { js: banner } } : {}) })
    return file
  }
  if (bundler === 'webpack') {
    const stats = await new Promise<webpack.Stats>((resolve, reject) =>
      webpack(
        {
          mode: 'production',
          target: 'node',
          context: project,
          entry,
          output: { path: out, filename: 'server.js' },
          externals: Object.fromEntries(external.map((e) => [e, `commonjs ${e}`])),
          optimization: { minimize: false },
        },
        (err, s) => (err || !s ? reject(err) : resolve(s)),
      ),
    )
    expect(stats.hasErrors(), stats.toString('errors-only')).toBe(false)
    return join(out, 'server.js')
  }
  const { code, assets = {} } = await ncc(entry, { externals: external, quiet: true })
  for (const [name, asset] of Object.entries(assets)) {
    await mkdir(dirname(join(out, name)), { recursive: true })
    await writeFile(join(out, name), asset.source)
  }
  await writeFile(join(out, 'server.cjs'), code)
  return join(out, 'server.cjs')
}

/** The better-sqlite3 package a SQLite bundle needs next to it: its JS, its native addon and its two small dependencies. */
async function addSqliteAddon(folder: string) {
  const from = join(root, 'node_modules/better-sqlite3')
  const to = join(folder, 'node_modules/better-sqlite3')
  await cp(join(from, 'package.json'), join(to, 'package.json'))
  await cp(join(from, 'lib'), join(to, 'lib'), { recursive: true })
  await cp(join(from, 'build/Release/better_sqlite3.node'), join(to, 'build/Release/better_sqlite3.node'))
  for (const dep of ['bindings', 'file-uri-to-path']) {
    const at = dirname(createRequire(join(from, 'package.json')).resolve(`${dep}/package.json`))
    await cp(at, join(folder, 'node_modules', dep), { recursive: true })
  }
}

/** Runs the bundle in its folder, with the migrations next to it and nothing else on the module path. */
async function run(file: string, env: Record<string, string>) {
  const folder = dirname(file)
  await mkdir(join(folder, 'migrations'), { recursive: true })
  for (const [name, text] of Object.entries(MIGRATIONS)) await writeFile(join(folder, 'migrations', name), text)
  const { NODE_PATH: _path, NODE_OPTIONS: _options, ...rest } = process.env
  const r = spawnSync(process.execPath, [file], { cwd: folder, env: { ...rest, ...env }, encoding: 'utf8', timeout: 60_000 })
  const last = r.stdout.trim().split('\n').pop() ?? ''
  return { code: r.status, output: r.stdout + r.stderr, result: (last.startsWith('{') ? JSON.parse(last) : {}) as { applied?: string[]; code?: string; message?: string } }
}

async function expectPostgresMigrated(file: string) {
  const url = await freshDatabase()
  const first = await run(file, { DATABASE_URL: url })
  expect(first.code, first.output).toBe(0)
  expect(first.result.applied).toEqual(['0001', '0002', '0003'])
  const sql = client(url)
  expect((await sql`select id from boot_migrate_history order by id`).map((r) => r.id)).toEqual(['0001', '0002', '0003'])
  expect((await sql`select email from users`).map((r) => r.email)).toEqual(['a@example.com'])
  expect((await sql`select table_name from information_schema.tables where table_name in ('users', 'posts') order by 1`).map((r) => r.table_name)).toEqual([
    'posts',
    'users',
  ])
  // The boot of the next deploy: nothing to do.
  const second = await run(file, { DATABASE_URL: url })
  expect(second.code, second.output).toBe(0)
  expect(second.result.applied).toEqual([])
}

async function expectSqliteMigrated(file: string) {
  await addSqliteAddon(dirname(file))
  const db = join(await tempDir(), 'app.db')
  const first = await run(file, { DATABASE_FILE: db })
  expect(first.code, first.output).toBe(0)
  expect(first.result.applied).toEqual(['0001', '0002', '0003'])
  const check = open(db)
  expect(check.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002', '0003'])
  expect(check.prepare('select email from users').pluck().all()).toEqual(['a@example.com'])
  expect(check.prepare("select name from sqlite_master where type = 'table' and name in ('users', 'posts') order by 1").pluck().all()).toEqual(['posts', 'users'])
  const second = await run(file, { DATABASE_FILE: db })
  expect(second.code, second.output).toBe(0)
  expect(second.result.applied).toEqual([])
}

describe('a PostgreSQL server bundled and run from a folder with no node_modules', () => {
  it('esbuild, ESM, boot-migrate (all dialects), the app passing its postgres.js client', async () => {
    await expectPostgresMigrated(await bundle('esbuild-esm', servers.postgresClient('boot-migrate', true)))
  })

  it('esbuild, ESM, boot-migrate/postgres, the app passing its postgres.js client', async () => {
    await expectPostgresMigrated(await bundle('esbuild-esm', servers.postgresClient('boot-migrate/postgres', true)))
  })

  it('esbuild, CommonJS, boot-migrate/postgres, from a URL (boot-migrate imports postgres.js itself)', async () => {
    await expectPostgresMigrated(await bundle('esbuild-cjs', servers.postgresUrl('boot-migrate/postgres', false)))
  })

  it('webpack, target node, boot-migrate/postgres, the app passing its postgres.js client', async () => {
    await expectPostgresMigrated(await bundle('webpack', servers.postgresClient('boot-migrate/postgres', true)))
  })

  it('webpack, target node, boot-migrate (all dialects, split into chunks), from a URL', async () => {
    await expectPostgresMigrated(await bundle('webpack', servers.postgresUrl('boot-migrate', true)))
  })

  it('@vercel/ncc, boot-migrate/postgres, the app passing its postgres.js client', async () => {
    await expectPostgresMigrated(await bundle('ncc', servers.postgresClient('boot-migrate/postgres', false)))
  })
})

describe('a SQLite server bundled and run from a folder holding only the better-sqlite3 package (a native addon, external)', () => {
  it('esbuild, ESM, boot-migrate/sqlite, the app passing its better-sqlite3 Database', async () => {
    await expectSqliteMigrated(await bundle('esbuild-esm', servers.sqliteClient('boot-migrate/sqlite', true), sqliteExternal))
  })

  it('esbuild, CommonJS, boot-migrate/sqlite, from a URL (lock folder and its thread included)', async () => {
    await expectSqliteMigrated(await bundle('esbuild-cjs', servers.sqliteUrl('boot-migrate/sqlite', false), sqliteExternal))
  })

  it('esbuild, ESM, boot-migrate (all dialects), from a URL', async () => {
    await expectSqliteMigrated(await bundle('esbuild-esm', servers.sqliteUrl('boot-migrate', true), sqliteExternal))
  })

  it('webpack, target node, boot-migrate/sqlite, from a URL', async () => {
    await expectSqliteMigrated(await bundle('webpack', servers.sqliteUrl('boot-migrate/sqlite', true), sqliteExternal))
  })

  it('@vercel/ncc, boot-migrate/sqlite, from a URL', async () => {
    await expectSqliteMigrated(await bundle('ncc', servers.sqliteUrl('boot-migrate/sqlite', false), sqliteExternal))
  })
})

describeMysql('a MySQL/MariaDB server bundled and run from a folder with no node_modules', () => {
  for (const bundler of ['esbuild-esm', 'esbuild-cjs'] as const)
    it(`${bundler === 'esbuild-esm' ? 'esbuild, ESM' : 'esbuild, CommonJS'}, boot-migrate/mysql, from a URL (mysql2 bundled)`, async () => {
      const url = await freshMysqlDatabase()
      // mysql2 is CommonJS and requires Node.js built-ins: in ESM output esbuild needs a require, which it documents as this banner.
      const file = await bundle(bundler, servers.mysqlUrl('boot-migrate/mysql', bundler === 'esbuild-esm'), [], bundler === 'esbuild-esm' ? ESM_REQUIRE : undefined)
      const first = await run(file, { DATABASE_URL: url })
      expect(first.code, first.output).toBe(0)
      expect(first.result.applied).toEqual(['0001', '0002', '0003'])
      const db = await mysqlClient(url)
      expect((await db.query('select id from boot_migrate_history order by id'))[0]).toEqual([{ id: '0001' }, { id: '0002' }, { id: '0003' }])
      expect((await db.query('select email from users'))[0]).toEqual([{ email: 'a@example.com' }])
    })
})

describe('the per-dialect entry points', () => {
  it('boot-migrate/postgres, /sqlite and /mysql export what boot-migrate exports', async () => {
    const names = async (m: Promise<object>) => Object.keys(await m).sort()
    const main = await names(import('../src/index.js'))
    for (const entry of [import('../src/entries/postgres.js'), import('../src/entries/sqlite.js'), import('../src/entries/mysql.js')]) expect(await names(entry)).toEqual(main)
  })

  it('boot-migrate/postgres given a SQLite URL fails with INVALID_OPTIONS naming boot-migrate/sqlite, and creates no file', async () => {
    const file = join(await tempDir(), 'app.db')
    const error = await postgresMigrator({ url: `sqlite:${file}`, migrations: [], logger: false })
      .run()
      .then(() => expect.unreachable(), (e: unknown) => e as MigrationError)
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toContain('boot-migrate/postgres migrates PostgreSQL only')
    expect(error.message).toContain('import from "boot-migrate/sqlite"')
    expect(await readdir(dirname(file))).toEqual([])
  })

  it('boot-migrate/sqlite given a PostgreSQL URL fails with INVALID_OPTIONS naming boot-migrate/postgres', async () => {
    const error = await sqliteMigrator({ url: 'postgres://nobody@127.0.0.1:1/none', migrations: [], logger: false })
      .run()
      .then(() => expect.unreachable(), (e: unknown) => e as MigrationError)
    expect(error.code).toBe('INVALID_OPTIONS')
    expect(error.message).toContain('import from "boot-migrate/postgres"')
  })
})

/**
 * A folder where boot-migrate is installed and no driver is: the app's client comes from elsewhere (here, the
 * repository's node_modules by absolute path), so any import of a driver by boot-migrate would fail.
 */
async function withoutDrivers(script: string, env: Record<string, string>) {
  const app = await mkdtemp(join(tmpdir(), 'boot-migrate-nodrivers-'))
  folders.push(app)
  await cp(join(project, 'node_modules/boot-migrate'), join(app, 'node_modules/boot-migrate'), { recursive: true })
  await mkdir(join(app, 'migrations'))
  for (const [name, text] of Object.entries(MIGRATIONS)) await writeFile(join(app, 'migrations', name), text)
  await writeFile(join(app, 'server.mjs'), script)
  return run(join(app, 'server.mjs'), env)
}
const driver = (pkg: string) => JSON.stringify(require.resolve(pkg))

describe('drivers taken from the client the app passes', () => {
  const postgresWithoutDriver = `import postgres from ${driver('postgres')}\nimport { migrate } from 'boot-migrate/postgres'\n` +
    body('client: sql', "const sql = postgres(process.env.DATABASE_URL, { onnotice: () => {} })", 'await sql.end()')

  it('a PostgreSQL boot with nothing to do imports no driver: the postgres package need not be resolvable by boot-migrate', async () => {
    const url = await freshDatabase()
    // The previous deploy migrated: this boot only reads the history, on the app's client.
    expect((await run(await bundle('esbuild-esm', servers.postgresClient('boot-migrate/postgres', true)), { DATABASE_URL: url })).result.applied).toEqual(['0001', '0002', '0003'])
    const noop = await withoutDrivers(postgresWithoutDriver, { DATABASE_URL: url })
    expect(noop.code, noop.output).toBe(0)
    expect(noop.result.applied).toEqual([])
  })

  it('a PostgreSQL boot with work imports postgres.js for its dedicated connection, and says DRIVER_MISSING before applying anything when it cannot', async () => {
    const url = await freshDatabase()
    const r = await withoutDrivers(postgresWithoutDriver, { DATABASE_URL: url })
    expect(r.code).toBe(1)
    expect(r.result.code).toBe('DRIVER_MISSING')
    expect(r.result.message).toContain('npm install postgres')
    expect(await client(url)`select table_name from information_schema.tables where table_schema = 'public'`).toEqual([])
  })

  it('a SQLite app passing its better-sqlite3 Database migrates without better-sqlite3 resolvable by boot-migrate: its own connection comes from the client', async () => {
    const file = join(await tempDir(), 'app.db')
    const source = `import Database from ${driver('better-sqlite3')}\nimport { migrate } from 'boot-migrate/sqlite'\n`
    const r = await withoutDrivers(source + body('client: db', 'const db = new Database(process.env.DATABASE_FILE)', 'db.close()'), { DATABASE_FILE: file })
    expect(r.code, r.output).toBe(0)
    expect(r.result.applied).toEqual(['0001', '0002', '0003'])
    expect(open(file).prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002', '0003'])
  })
})

describe('a bundle without the driver it needs', () => {
  it('builds with a warning and fails at boot with DRIVER_MISSING naming the package', async () => {
    // postgres.js left out of the bundle, as when it is not installed: nothing on disk provides it at run time.
    const file = await bundle('esbuild-cjs', servers.postgresUrl('boot-migrate/postgres', false), ['postgres'])
    const r = await run(file, { DATABASE_URL: await freshDatabase() })
    expect(r.code).toBe(1)
    expect(r.result.code).toBe('DRIVER_MISSING')
    expect(r.result.message).toContain('PostgreSQL needs the "postgres" package: npm install postgres')
  })
})

/** What is only in one dialect's code: its SQL, its lock, the import of its driver. */
const MARKERS = {
  postgres: [/pg_try_advisory/, /pg_stat_activity/, /(require|import)\(\s*["']postgres["']\s*\)/],
  sqlite: [/BEGIN IMMEDIATE/i, /sqlite_master/, /foreign_key_check\b/, /(require|import)\(\s*["']better-sqlite3["']\s*\)/, /utimesSync/],
  mysql: [/GET_LOCK/i, /lock_wait_timeout/, /(require|import)\(\s*["']mysql2\/promise["']\s*\)/],
}
type Name = keyof typeof MARKERS
const others = (name: Name) => (Object.keys(MARKERS) as Name[]).filter((n) => n !== name)
/** Which of a dialect's markers the text holds, by name (never the text itself: a bundle is too large to print). */
const found = (text: string, name: Name) => MARKERS[name].filter((m) => m.test(text)).map(String)

/** The library alone, minified, drivers external: what boot-migrate adds to a server's bundle. */
async function libraryBundle(entry: string, format: 'esm' | 'cjs') {
  const options: BuildOptions = {
    stdin: { contents: format === 'esm' ? `export * from '${entry}'` : `module.exports = require('${entry}')`, resolveDir: project, loader: 'js' },
    bundle: true,
    minify: true,
    platform: 'node',
    format,
    write: false,
    external: ['postgres', 'better-sqlite3', 'mysql2', 'drizzle-orm', 'libsql'],
    logLevel: 'silent',
  }
  const text = (await build(options)).outputFiles![0]!.text
  return { text, bytes: Buffer.byteLength(text), gzip: gzipSync(text).length }
}

describe('what each entry point carries', () => {
  for (const name of Object.keys(MARKERS) as Name[])
    it(`boot-migrate/${name} holds ${name}'s code and no other dialect's, in ESM and CommonJS`, async () => {
      for (const format of ['esm', 'cjs'] as const) {
        const { text, bytes, gzip } = await libraryBundle(`boot-migrate/${name}`, format)
        console.log(`boot-migrate/${name} (${format}, minified): ${bytes} B, ${gzip} B gzip`)
        expect(found(text, name), format).toEqual(MARKERS[name].map(String))
        for (const other of others(name)) expect(found(text, other), `${format}: ${other}'s code`).toEqual([])
      }
    })

  it('the SQLite server bundles of every bundler hold no PostgreSQL or MySQL code, and the PostgreSQL ones no SQLite or MySQL code', async () => {
    for (const bundler of ['esbuild-esm', 'esbuild-cjs', 'webpack', 'ncc'] as const) {
      for (const [name, source] of [
        ['postgres', servers.postgresClient('boot-migrate/postgres', bundler === 'esbuild-esm' || bundler === 'webpack')],
        ['sqlite', servers.sqliteUrl('boot-migrate/sqlite', bundler === 'esbuild-esm' || bundler === 'webpack')],
      ] as const) {
        const file = await bundle(bundler, source, name === 'sqlite' ? sqliteExternal : [])
        const text = (await Promise.all((await readdir(dirname(file))).filter((f) => /\.[cm]?js$/.test(f)).map((f) => readFile(join(dirname(file), f), 'utf8')))).join('\n')
        for (const other of others(name)) expect(found(text, other), `${bundler}, a ${name} server: ${other}'s code`).toEqual([])
      }
    }
  })

  it('boot-migrate (all dialects) still carries all three', async () => {
    const { text, bytes, gzip } = await libraryBundle('boot-migrate', 'esm')
    console.log(`boot-migrate (esm, minified): ${bytes} B, ${gzip} B gzip`)
    for (const name of Object.keys(MARKERS) as Name[]) expect(found(text, name)).toEqual(MARKERS[name].map(String))
  })
})
