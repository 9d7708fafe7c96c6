import { spawn, spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from './contract/support.js'
import { client, freshDatabase, revisions, root } from './helpers.js'

const running: Array<ReturnType<typeof spawn>> = []
afterEach(() => {
  for (const c of running.splice(0)) c.kill('SIGKILL')
})

describe('the published package', () => {
  it('loads from CommonJS through require() as well as from ESM', () => {
    const cjs = spawnSync(process.execPath, ['-e', "const m = require('boot-migrate'); console.log(typeof m.migrate, typeof m.createMigrator, typeof m.MigrationError)"], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(cjs.stdout.trim()).toBe('function function function')
    const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { migrate } from 'boot-migrate'; console.log(typeof migrate)"], { cwd: root, encoding: 'utf8' })
    expect(esm.stdout.trim()).toBe('function')
  })

  it('imports without any driver installed and names the missing one when it is needed', async () => {
    // A project with boot-migrate and nothing else: drivers are optional peer dependencies.
    const app = await mkdtemp(join(tmpdir(), 'boot-migrate-nodrivers-'))
    const pkg = join(app, 'node_modules/boot-migrate')
    await mkdir(pkg, { recursive: true })
    await cp(join(root, 'dist'), join(pkg, 'dist'), { recursive: true })
    await cp(join(root, 'package.json'), join(pkg, 'package.json'))
    const script = `import { migrate } from 'boot-migrate'
      await migrate({ url: 'postgres://x@127.0.0.1:1/x', migrations: [], logger: false }).catch((e) => console.log(e.code, e.message))`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' })
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^DRIVER_MISSING .*npm install postgres/)
  })

  it('the CLI waits for another process to migrate, then exits 0', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const cli = (...args: string[]) => spawn(process.execPath, [join(root, 'dist/cli.js'), ...args, '--url', url, '--dir', dir], { stdio: 'pipe' })
    const waiter = cli('wait', '--timeout', '20000')
    running.push(waiter)
    let said = ''
    for (const stream of [waiter.stdout!, waiter.stderr!]) stream.on('data', (d) => (said += d))
    const waited = new Promise<number | null>((resolve) => waiter.on('exit', resolve))
    // It has read the history, found 0001 pending and is waiting: it neither migrated nor gave up.
    await expect.poll(() => said, eventually).toContain('waiting for another process to apply 0001')
    expect(waiter.exitCode).toBeNull()
    const up = cli('up', '--json')
    let out = ''
    up.stdout!.on('data', (d) => (out += d))
    expect(await new Promise((resolve) => up.on('exit', resolve))).toBe(0)
    expect(JSON.parse(out)).toMatchObject({ current: '0001', applied: [{ id: '0001' }] })
    expect(await waited).toBe(0)
  })
})

describe('the npm package', () => {
  it('npm pack ships dist (built by prepack), LICENSE and README, and one copy of the library per format', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
    // A fresh clone has no dist: prepack builds it. (--ignore-scripts here: the other test files use this dist.)
    expect(pkg.scripts.prepack).toMatch(/^npm run build\b/)
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path)
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli.js', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.cjs']))
    expect(files.filter((f) => !f.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(f))).toEqual([])
    expect(await readFile(join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) 2026 boot-migrate contributors/)
    // The core (here: the planner's checksum message) is in one shared chunk per format, not in every entry point.
    const core: string[] = []
    for (const f of files.filter((f) => /^dist\/.*\.c?js$/.test(f)))
      if ((await readFile(join(root, f), 'utf8')).includes('was changed after it was applied (checksum')) core.push(f)
    expect(core.filter((f) => f.endsWith('.js'))).toHaveLength(1)
    expect(core.filter((f) => f.endsWith('.cjs'))).toHaveLength(1)
    expect((await readFile(join(root, 'dist/cli.js'), 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true)
  })
})

describe('examples', () => {
  it('the PostgreSQL service answers 503 on /readyz until migrated, then 200, and serves the migrated table', async () => {
    const url = await freshDatabase()
    const child = spawn(process.execPath, [join(root, 'examples/postgres-service/server.mjs')], {
      env: { ...process.env, DATABASE_URL: url, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    running.push(child)
    let out = ''
    child.stdout!.on('data', (d) => (out += d))
    const port = await new Promise<number>((resolve) => child.stdout!.on('data', () => /localhost:(\d+)/.test(out) && resolve(Number(/localhost:(\d+)/.exec(out)![1]))))
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status, eventually).toBe(200)
    expect(await (await fetch(`http://127.0.0.1:${port}/notes`)).json()).toEqual([{ id: '1', body: 'migrated at boot by boot-migrate' }])
    child.kill('SIGTERM')
    expect(await new Promise((resolve) => child.on('exit', (code) => resolve(code)))).toBe(0)
    expect(await client(url)`select count(*)::int as n from boot_migrate_history`).toEqual([{ n: 2 }])
  })

  it('the README gives every example a line, and its quick start ends its client', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    for (const name of await readdir(join(root, 'examples'))) expect(readme).toMatch(new RegExp(`^- \`${name}\`: `, 'm'))
    expect(readme).toContain('await sql.end()')
  })

  it('the PostgreSQL examples refuse to start without DATABASE_URL instead of using a database nobody named', () => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' }
    const service = spawnSync(process.execPath, [join(root, 'examples/postgres-service/server.mjs')], { env, encoding: 'utf8', timeout: 20_000 })
    expect(service.status).toBe(2)
    expect(service.stderr).toContain('Set DATABASE_URL')
    const handler = spawnSync(process.execPath, [join(root, 'examples/serverless/handler.mjs')], { env, encoding: 'utf8', timeout: 20_000 })
    expect(handler.status).toBe(1)
    expect(handler.stderr).toContain('Set DATABASE_URL')
  })

  it('the serverless handler migrates on the cold start and answers warm calls', async () => {
    const url = await freshDatabase()
    const r = spawnSync(process.execPath, [join(root, 'examples/serverless/handler.mjs')], { env: { ...process.env, DATABASE_URL: url }, encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.match(/statusCode: 200/g)).toHaveLength(2)
    expect(r.stdout.match(/applied 0001_notes/g)).toHaveLength(1)
  })
})
