import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { client, freshDatabase, revisions, root } from './helpers.js'

const children: Array<ReturnType<typeof spawn>> = []
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL')
})

/** Starts a replica process (test/workers/replica.mjs) and resolves with its HTTP port. */
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
  return { child, port, output: () => out }
}

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return { status: res.status, body: await res.text() }
}

const slowSet = {
  '0001_t.sql': '-- migrate:up\ncreate table t (x int);\n',
  '0002_slow.sql': '-- migrate:up\nselect pg_sleep(2);\nalter table t add column y int;\n',
}

describe('readiness of replicas behind a probe', () => {
  it('five replicas: none is ready before the history reaches the target, all are ready within a second after', async () => {
    const url = await freshDatabase()
    const dir = await revisions(slowSet)
    const ports = await Promise.all(Array.from({ length: 5 }, (_, i) => replica({ url, dir, instanceId: `r${i}` }).port))
    const sql = client(url)
    const atTarget = async () =>
      (await sql`select count(*)::int as n from boot_migrate_history where state = 'applied'`.catch(() => [{ n: 0 }]))[0]!.n === 2

    let lastNotAtTarget = 0
    let reachedTarget = 0
    const firstReady = new Map<number, number>()
    const bodies: string[] = []
    const deadline = Date.now() + 30_000
    while (firstReady.size < ports.length && Date.now() < deadline) {
      const checkedAt = Date.now()
      if (await atTarget()) reachedTarget ||= Date.now()
      else lastNotAtTarget = checkedAt
      await Promise.all(
        ports.map(async (port) => {
          const r = await get(port, '/readyz')
          expect((await get(port, '/healthz')).status).toBe(200)
          if (r.status === 200 && !firstReady.has(port)) {
            firstReady.set(port, Date.now())
            bodies.push(r.body)
          }
          if (r.status !== 200) expect(r.status).toBe(503)
        }),
      )
      await new Promise((r) => setTimeout(r, 25))
    }
    expect(firstReady.size).toBe(5)
    for (const at of firstReady.values()) {
      // A replica answered 200 only after a moment at which we saw the database short of its target: never.
      expect(at).toBeGreaterThan(lastNotAtTarget)
      expect(at - reachedTarget).toBeLessThan(1000)
    }
    for (const b of bodies) expect(JSON.parse(b)).toMatchObject({ status: 'ready', ready: true, current: '0002', target: '0002', error: null })
  })

  it('with a failing revision every replica answers 503 with the error code, stays live, and no lock is left', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_bad.sql': "-- migrate:up\nselect pg_sleep(0.5);\nselect 'secret-literal'::int;\n" })
    const replicas = Array.from({ length: 5 }, () => replica({ url, dir }))
    const ports = await Promise.all(replicas.map((r) => r.port))
    const deadline = Date.now() + 30_000
    let answers: Array<{ status: number; body: string }> = []
    while (Date.now() < deadline) {
      answers = await Promise.all(ports.map((p) => get(p, '/readyz')))
      if (answers.every((a) => JSON.parse(a.body).status === 'failed')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const a of answers) {
      expect(a.status).toBe(503)
      expect(JSON.parse(a.body)).toMatchObject({ status: 'failed', ready: false, error: 'MIGRATION_FAILED' })
      expect(a.body).not.toContain('secret-literal')
      expect(a.body).not.toContain('postgres://')
    }
    for (const p of ports) expect((await get(p, '/healthz')).status).toBe(200)
    expect(await client(url)`select count(*)::int as n from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())`).toEqual([{ n: 0 }])
  })

  it("mode 'wait' replicas never migrate and become ready once another process has", async () => {
    const url = await freshDatabase()
    const dir = await revisions(slowSet)
    const waiters = Array.from({ length: 3 }, () => replica({ url, dir, mode: 'wait' }))
    const ports = await Promise.all(waiters.map((w) => w.port))
    await new Promise((r) => setTimeout(r, 1000))
    for (const p of ports) expect(JSON.parse((await get(p, '/readyz')).body)).toMatchObject({ status: 'waiting-for-migration', pending: 2 })
    const sql = client(url)
    expect(await sql`select to_regclass('boot_migrate_history') as h`).toEqual([{ h: null }])

    await createMigrator({ url, dir, instanceId: 'the-migrator', logger: false }).run()
    const deadline = Date.now() + 5000
    let statuses: number[] = []
    while (Date.now() < deadline) {
      statuses = await Promise.all(ports.map(async (p) => (await get(p, '/readyz')).status))
      if (statuses.every((s) => s === 200)) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(statuses).toEqual([200, 200, 200])
    expect(await sql`select distinct applied_by from boot_migrate_history`).toEqual([{ applied_by: 'the-migrator' }])
    for (const w of waiters) expect(w.output()).not.toContain('applying')
  })

  it("mode 'wait' gives up with WAIT_TIMEOUT when nobody migrates", async () => {
    const url = await freshDatabase()
    const dir = await revisions(slowSet)
    await expect(createMigrator({ url, dir, mode: 'wait', waitTimeout: 600, logger: false }).run()).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' })
  })
})

describe('the service lifecycle', () => {
  it('stop() in the middle of a slow revision rolls it back and frees the lock at once', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\ncreate table a (x int);\nselect pg_sleep(20);\ncreate table b (x int);\n' })
    const migrator = createMigrator({ url, dir, logger: false })
    const started = new Promise<void>((resolve) => migrator.on('migration:start', () => resolve()))
    migrator.start()
    await started
    await new Promise((r) => setTimeout(r, 300))
    const t = Date.now()
    await migrator.stop()
    expect(Date.now() - t).toBeLessThan(3000)
    await expect(migrator.ready).rejects.toMatchObject({ code: 'ABORTED', revision: '0001' })
    expect(migrator.health()).toMatchObject({ status: 'failed', ready: false, error: { code: 'ABORTED' } })
    const sql = client(url)
    expect(await sql`select to_regclass('a') as a, (select count(*)::int from pg_locks where locktype = 'advisory' and database = (select oid from pg_database where datname = current_database())) as locks`).toEqual([{ a: null, locks: 0 }])
  })

  it('an AbortSignal stops a replica waiting for the lock', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\nselect pg_sleep(3);\n' })
    const leader = createMigrator({ url, dir, logger: false })
    const leaderStarted = new Promise<void>((resolve) => leader.on('migration:start', () => resolve()))
    leader.start()
    await leaderStarted
    const controller = new AbortController()
    const waiter = createMigrator({ url, dir, logger: false, signal: controller.signal })
    waiter.start()
    await new Promise((r) => setTimeout(r, 300))
    expect(waiter.health().status).toBe('waiting-for-lock')
    controller.abort()
    await expect(waiter.ready).rejects.toMatchObject({ code: 'ABORTED' })
    await expect(leader.ready).resolves.toMatchObject({ current: '0001' })
  })

  it('health() names the revision in progress and how long it has run; events report each step', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_slow.sql': '-- migrate:up\nselect pg_sleep(0.6);\n' })
    const migrator = createMigrator({ url, dir, logger: false })
    const events: string[] = []
    migrator.on('migration:start', (e) => events.push(`start ${e.id}`))
    migrator.on('migration:end', (e) => events.push(`end ${e.id} ${e.durationMs >= 500}`))
    migrator.on('ready', (r) => events.push(`ready ${r.current}`))
    migrator.start()
    await new Promise((r) => setTimeout(r, 400))
    expect(migrator.health()).toMatchObject({ status: 'migrating', ready: false, applying: { id: '0001', name: 'slow' }, target: '0001' })
    expect(migrator.health().applying!.sinceMs).toBeGreaterThan(0)
    await migrator.ready
    expect(migrator.health()).toMatchObject({ status: 'ready', ready: true, applying: null, current: '0001', pending: [] })
    expect(events).toEqual(['start 0001', 'end 0001 true', 'ready 0001'])
  })

  it('the fetch handler answers 503 then 200 with the same body as the node handler', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const migrator = createMigrator({ url, dir, logger: false })
    const handler = migrator.fetchHandler()
    expect(handler(new Request('http://x/readyz')).status).toBe(503)
    migrator.start()
    await migrator.ready
    const res = handler(new Request('http://x/readyz'))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toEqual({ status: 'ready', ready: true, current: '0001', target: '0001', pending: 0, applying: null, error: null })
  })
})
