import { spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshDatabase, root } from './helpers.js'

/**
 * The linter's parser (libpg-query, WASM) is never on the boot path: an app that migrates at boot neither bundles
 * it nor loads it, even where the package is installed (as a devDependency of a project that lints).
 */
let project: string
const parser = /libpg-query|pg_query/

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'boot-migrate-lint-bundle-'))
  const pkg = join(project, 'node_modules/boot-migrate')
  await mkdir(pkg, { recursive: true })
  await cp(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
  await cp(join(root, 'package.json'), join(pkg, 'package.json'))
  for (const dep of ['postgres', 'libpg-query']) await symlink(join(root, 'node_modules', dep), join(project, 'node_modules', dep))
  await mkdir(join(project, 'migrations'))
  await writeFile(join(project, 'migrations/0001_users.sql'), '-- migrate:up\ncreate table users (id int primary key);\n')
})
afterAll(() => rm(project, { recursive: true, force: true }))

async function esmBundle(source: string): Promise<string> {
  const entry = join(project, `app-${Math.random().toString(36).slice(2)}.mjs`)
  await writeFile(entry, source)
  const out = entry.replace(/\.mjs$/, '.bundle.mjs')
  await build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent' })
  return readFile(out, 'utf8')
}

describe('the linter stays off the boot path', () => {
  it('an ES module bundle of an app that calls migrate() from boot-migrate holds no libpg-query', async () => {
    expect(await esmBundle("import { migrate } from 'boot-migrate'\nawait migrate({ url: process.env.DATABASE_URL, dir: './migrations' })\n")).not.toMatch(parser)
  })

  it('nor one of boot-migrate/postgres', async () => {
    expect(await esmBundle("import { migrate } from 'boot-migrate/postgres'\nawait migrate({ url: process.env.DATABASE_URL, dir: './migrations' })\n")).not.toMatch(parser)
  })

  it('an app that calls lint() does bundle it (the check above can see it)', async () => {
    expect(await esmBundle("import { lint } from 'boot-migrate'\nconsole.log((await lint({ dir: './migrations' })).findings)\n")).toMatch(parser)
  })

  it('migrate() loads no libpg-query module at run time (CommonJS, the package installed)', async () => {
    const url = await freshDatabase()
    await writeFile(
      join(project, 'boot.cjs'),
      "const { migrate } = require('boot-migrate')\n" +
        "migrate({ url: process.env.DATABASE_URL, dir: './migrations', logger: false }).then((r) => console.log(JSON.stringify({ applied: r.applied.map((a) => a.id), parser: Object.keys(require.cache).some((k) => k.includes('libpg-query')) })))\n",
    )
    const r = spawnSync(process.execPath, ['boot.cjs'], { cwd: project, env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' })
    expect(JSON.parse(r.stdout), r.stderr).toEqual({ applied: ['0001'], parser: false })
  })
})
