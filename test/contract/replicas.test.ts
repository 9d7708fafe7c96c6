import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { revisions, root } from '../helpers.js'
import { eventually, gate, quiet } from './support.js'
import { targets } from './targets.js'

const children: Array<ReturnType<typeof spawn>> = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

/** A replica process (test/workers/replica.mjs): listens at once, migrates in the background, answers /readyz and /healthz. */
function replica(options: Record<string, unknown>) {
  const child = spawn(process.execPath, [join(root, 'test/workers/replica.mjs')], {
    env: { ...process.env, BM_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const port = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', () => {
      const m = /PORT (\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', () => reject(new Error(`replica exited:\n${out}`)))
  })
  return { port, output: () => out }
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: await res.text() }
}
const readyz = (ports: number[]) => Promise.all(ports.map(async (p) => ({ port: p, ...(await get(p, '/readyz')) })))
const statuses = async (ports: number[]) => (await readyz(ports)).map((r) => JSON.parse(r.body).status as string)

// Needs a second process (workers, the CLI, kill -9): not on a target only this process reaches (PGlite).
describe.each(targets.filter((t) => t.processes))('replicas behind a readiness probe ($label)', (target) => {
  it('five replicas: while one migrates, every replica answers 503 and stays live; once the history is at the target, all answer 200', async () => {
    const db = await target.fresh()
    const held = await gate()
    const dir = await revisions({
      '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
      '0002_held.mjs': `export async function up({ exec, log }) {\n  await exec('alter table t add column y int')\n  log('holding')\n  ${held.hold()}\n}\n`,
    })
    const replicas = Array.from({ length: 5 }, (_, i) => replica({ url: db.url, dir, instanceId: `r${i}` }))
    const ports = await Promise.all(replicas.map((r) => r.port))

    // One replica sits inside 0002 holding the lock; the four others wait for it.
    const holding = () => replicas.flatMap((r, i) => (r.output().includes('0002_held: holding') ? [`r${i}`] : []))
    await expect.poll(() => holding().length, eventually).toBe(1)
    await expect.poll(async () => (await statuses(ports)).sort(), eventually).toEqual(['migrating', ...Array(4).fill('waiting-for-lock')])
    for (const r of await readyz(ports)) expect(r.status).toBe(503)
    for (const p of ports) expect((await get(p, '/healthz')).status).toBe(200)
    expect(await db.query("select id from boot_migrate_history where state = 'applied'")).toEqual([{ id: '0001' }])

    await held.open()
    await expect.poll(async () => (await readyz(ports)).map((r) => r.status), eventually).toEqual([200, 200, 200, 200, 200])
    for (const r of await readyz(ports)) expect(JSON.parse(r.body)).toMatchObject({ status: 'ready', ready: true, current: '0002', target: '0002', error: null })
    for (const p of ports) expect((await get(p, '/healthz')).status).toBe(200)
    expect(await db.query('select distinct applied_by from boot_migrate_history')).toEqual([{ applied_by: holding()[0] }])
  })

  it('with a failing revision every replica answers 503 with the error code and nothing of the error text, stays live, and no lock is left', async () => {
    const db = await target.fresh()
    // Where DDL commits implicitly a CREATE TABLE would leave the revision dirty (and the other replicas would say DIRTY).
    const dir = await revisions({ '0001_bad.sql': `-- migrate:up\n${target.transactionalDdl ? 'create table t (x int);\n' : ''}select * from "secret-literal";\n` })
    const replicas = Array.from({ length: 5 }, () => replica({ url: db.url, dir }))
    const ports = await Promise.all(replicas.map((r) => r.port))
    await expect.poll(() => statuses(ports), eventually).toEqual(Array(5).fill('failed'))
    for (const a of await readyz(ports)) {
      expect(a.status).toBe(503)
      expect(JSON.parse(a.body)).toMatchObject({ status: 'failed', ready: false, error: 'MIGRATION_FAILED' })
      expect(a.body).not.toContain('secret-literal')
      expect(a.body).not.toContain(`${db.url.split(':')[0]}:`)
    }
    // The literal is in the error message (the replicas' logs), just not in what the probe answers.
    for (const r of replicas) expect(r.output()).toContain('secret-literal')
    for (const p of ports) expect((await get(p, '/healthz')).status).toBe(200)
    expect(await db.lockHeld()).toBe(false)
    expect(await db.tables()).not.toContain('t')
  })

  it("mode 'wait' replicas never migrate, wait with the pending count, and become ready once another process has migrated", async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n', '0002_y.sql': '-- migrate:up\nalter table t add column y int;\n' })
    const waiters = Array.from({ length: 3 }, () => replica({ url: db.url, dir, mode: 'wait' }))
    const ports = await Promise.all(waiters.map((w) => w.port))
    await expect.poll(() => statuses(ports), eventually).toEqual(Array(3).fill('waiting-for-migration'))
    for (const r of await readyz(ports)) expect(JSON.parse(r.body)).toMatchObject({ status: 'waiting-for-migration', pending: 2 })
    expect(await db.tables()).toEqual([])

    await createMigrator({ ...db.connection, dir, instanceId: 'the-migrator', ...quiet }).run()
    await expect.poll(async () => (await readyz(ports)).map((r) => r.status), eventually).toEqual([200, 200, 200])
    expect(await db.query('select distinct applied_by from boot_migrate_history')).toEqual([{ applied_by: 'the-migrator' }])
    for (const w of waiters) expect(w.output()).not.toContain('applying')
  })
})
