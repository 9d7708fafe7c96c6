import { describe, expect, it } from 'vitest'
import { createMigrator, type RevisionInput } from '../../src/index.js'
import { revisions } from '../helpers.js'
import { deferred, quiet } from './support.js'
import { targets } from './targets.js'

/** One revision that reports when it has started and then waits until the test lets it finish. */
function heldRevision() {
  const started = deferred()
  const release = deferred()
  const revision: RevisionInput = {
    id: '0001',
    name: 'slow',
    async up() {
      started.resolve()
      await release.promise
    },
  }
  return { migrations: [revision], started: started.promise, release: () => release.resolve() }
}

/** A Node response that keeps what the readiness handler wrote. */
function response() {
  const res = { statusCode: 0, headers: {} as Record<string, string>, body: '' }
  return Object.assign(res, { setHeader: (k: string, v: string) => void (res.headers[k] = v), end: (b?: string) => void (res.body = b ?? '') })
}

describe.each(targets)('health and readiness in one process ($label)', (target) => {
  it('health() and the events follow a run step by step: starting, migrating the named revision, ready', async () => {
    const db = await target.fresh()
    const held = heldRevision()
    const migrator = createMigrator({ ...db.connection, migrations: held.migrations, ...quiet })
    const events: string[] = []
    const at = (event: string) => events.push(`${event} (${migrator.health().status})`)
    migrator.on('lock:acquired', () => at('lock:acquired'))
    migrator.on('migration:start', (e) => at(`migration:start ${e.id} ${e.name}`))
    migrator.on('migration:end', (e) => at(`migration:end ${e.id}`))
    migrator.on('ready', (r) => at(`ready ${r.current}`))
    const ends: number[] = []
    migrator.on('migration:end', (e) => ends.push(e.durationMs))

    expect(migrator.health()).toMatchObject({ status: 'idle', ready: false })
    migrator.start()
    expect(migrator.health()).toMatchObject({ status: 'starting', ready: false })

    await held.started
    const during = migrator.health()
    expect(during).toMatchObject({ status: 'migrating', ready: false, applying: { id: '0001', name: 'slow' }, target: '0001', pending: ['0001'], error: null })
    expect(during.applying!.sinceMs).toEqual(expect.any(Number))
    if (target.readsDuringRevision) expect(await db.lockHeld()).toBe(true)

    held.release()
    const result = await migrator.ready
    expect(migrator.health()).toMatchObject({ status: 'ready', ready: true, applying: null, current: '0001', pending: [] })
    expect(events).toEqual(['lock:acquired (starting)', 'migration:start 0001 slow (migrating)', 'migration:end 0001 (migrating)', 'ready 0001 (ready)'])
    // The end event carries the duration the result reports.
    expect(ends).toEqual([result.applied[0]!.durationMs])
    expect(await db.lockHeld()).toBe(false)
  })

  it('the node and fetch handlers answer 503 until the target is reached, then 200, with the same body', async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    const migrator = createMigrator({ ...db.connection, dir, ...quiet })
    const handler = migrator.fetchHandler()
    const node = migrator.readiness()
    expect(handler(new Request('http://x/readyz')).status).toBe(503)
    const before = response()
    node({ method: 'GET' }, before)
    expect(before.statusCode).toBe(503)

    migrator.start()
    await migrator.ready
    const res = handler(new Request('http://x/readyz'))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = { status: 'ready', ready: true, current: '0001', target: '0001', pending: 0, applying: null, error: null }
    expect(await res.json()).toEqual(body)
    const after = response()
    node({ method: 'GET' }, after)
    expect(after.statusCode).toBe(200)
    expect(after.headers['cache-control']).toBe('no-store')
    expect(JSON.parse(after.body)).toEqual(body)
  })

  it('stop() during a revision rolls it back, frees the lock and rejects ready with ABORTED', async () => {
    const db = await target.fresh()
    const [started, stopped] = [deferred(), deferred()]
    const migrator = createMigrator({
      ...db.connection,
      migrations: [
        {
          id: '0001',
          name: 'slow',
          async up({ exec, signal }) {
            await exec('create table a (x int)')
            signal!.addEventListener('abort', () => stopped.resolve(), { once: true })
            started.resolve()
            await stopped.promise
            throw new Error('stopped by the signal')
          },
        },
      ],
      ...quiet,
    })
    migrator.start()
    await started.promise
    if (target.readsDuringRevision) expect(await db.lockHeld()).toBe(true)

    await migrator.stop()
    await expect(migrator.ready).rejects.toMatchObject({ code: 'ABORTED', revision: '0001' })
    expect(migrator.health()).toMatchObject({ status: 'failed', ready: false, error: { code: 'ABORTED' } })
    if (target.transactionalDdl) expect(await db.tables()).not.toContain('a')
    // Where DDL commits implicitly a function revision runs outside a transaction: what it did stays, and it is left dirty.
    else expect(await db.query('select state from boot_migrate_history')).toEqual([{ state: 'running' }])
    expect(await db.lockHeld()).toBe(false)
  })

  // On PGlite the waiter's history read itself waits for the revision's transaction (one backend): see test/pglite.test.ts.
  it.skipIf(!target.readsDuringRevision)('a run waiting for the lock reports waiting-for-lock and lock:wait, and an AbortSignal stops it', async () => {
    const db = await target.fresh()
    const held = heldRevision()
    const leader = createMigrator({ ...db.connection, migrations: held.migrations, ...quiet })
    leader.start()
    await held.started

    const controller = new AbortController()
    const waiter = createMigrator({ ...db.connection, migrations: held.migrations, signal: controller.signal, ...quiet })
    const waiting = deferred<string>()
    waiter.on('lock:wait', () => waiting.resolve(waiter.health().status))
    waiter.start()
    expect(await waiting.promise).toBe('waiting-for-lock')
    controller.abort()
    await expect(waiter.ready).rejects.toMatchObject({ code: 'ABORTED' })

    held.release()
    await expect(leader.ready).resolves.toMatchObject({ current: '0001' })
  })

  it("mode 'wait' gives up with WAIT_TIMEOUT when nobody migrates", async () => {
    const db = await target.fresh()
    const dir = await revisions({ '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n' })
    await expect(createMigrator({ ...db.connection, dir, mode: 'wait', waitTimeout: 600, ...quiet }).run()).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' })
    expect(await db.tables()).toEqual([])
  })
})
