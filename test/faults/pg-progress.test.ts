// PostgreSQL: kill -9 while statement k of a five-statement no-transaction revision is on the server, waiting
// for a table lock the test holds. Statements 1..k-1 are recorded; once the orphaned backend is gone (the
// server notices the dead client) the lock is released, so statement k never completed. The next boot is
// DIRTY naming statement k, and `resolve --resume` reaches the schema of a clean run.
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { pgSchema } from '../contract/schema.js'
import { client, freshDatabase, revisions, root } from '../helpers.js'
import { backendRunning, migrationBackends, startNode, waitFor } from './helpers.js'

const files = {
  '0001_tables.sql': `-- migrate:up\n${[1, 2, 3, 4, 5].map((i) => `create table t${i} (x int);`).join('\n')}\n`,
  '0002_five.sql': `-- migrate:up\n-- migrate:no-transaction\n${[1, 2, 3, 4, 5].map((i) => `alter table t${i} add column c int;`).join('\n')}\n`,
}
const quiet = { logger: false as const }
const EXCLUDE = ['boot_migrate_history', 'boot_migrate_history_progress']

describe('PostgreSQL: kill -9 while a statement of a no-transaction revision waits on the server', () => {
  it.each([1, 2, 3, 4, 5])('statement %i blocked, process killed: DIRTY names it, resume completes the revision', async (k) => {
    const clean = await freshDatabase()
    await createMigrator({ url: clean, dir: await revisions(files), ...quiet }).run()

    const url = await freshDatabase()
    const dir = await revisions(files)
    await createMigrator({ url, dir, to: '0001', ...quiet }).run()
    const sql = client(url)
    const blocker = await sql.reserve()
    await blocker`begin`
    await blocker.unsafe(`lock table t${k} in access share mode`)
    try {
      const worker = startNode(join(root, 'test/workers/migrate.mjs'), { url, dir, ddlLockTimeout: 600_000, instanceId: 'killed' })
      await waitFor(`statement ${k} waiting for its lock`, () => backendRunning(sql, new RegExp(`alter table t${k} `), 'killed'))
      expect((await sql`select step from boot_migrate_history_progress order by step`).map((r) => r.step)).toEqual(Array.from({ length: k - 1 }, (_, i) => i + 1))
      worker.child.kill('SIGKILL')
      expect((await worker.exited()).signal).toBe('SIGKILL')
      // client_connection_check_interval: the server ends the orphaned backend, its statement undone, before the lock is let go.
      await waitFor('the killed migrator backend to end', async () => (await migrationBackends(sql)).length === 0)
    } finally {
      await blocker`rollback`
      blocker.release()
    }

    const dirty = await createMigrator({ url, dir, ...quiet }).run().then(
      () => expect.unreachable('the boot should refuse'),
      (e: Error & { code?: string }) => e,
    )
    expect(dirty.code).toBe('DIRTY')
    expect(dirty.message).toContain(`statement ${k} at ${join(dir, '0002_five.sql')}:${k + 2} (alter table t${k} add column c int)`)
    await createMigrator({ url, dir, ...quiet }).resolve('0002', 'resume')
    expect(await pgSchema(url, EXCLUDE)).toEqual(await pgSchema(clean, EXCLUDE))
    expect(await sql`select id, state from boot_migrate_history order by id`).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
    ])
  })
})
