import { describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { eventually } from './contract/support.js'
import { freePort, startEmbeddedPostgres } from './setup/postgres.js'
import { captureLog } from './helpers.js'

describe('connecting', () => {
  it('fails with DATABASE_UNREACHABLE after connectTimeout, and never shows the password', async () => {
    const port = await freePort()
    const log = captureLog()
    const error = await createMigrator({
      url: `postgres://app:s3cr3t-pw@127.0.0.1:${port}/app`,
      migrations: [{ id: '1', up: 'select 1' }],
      connectTimeout: 800,
      logger: log.logger,
    })
      .run()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'DATABASE_UNREACHABLE' })
    expect((error as Error).message).toContain(`postgres://app:***@127.0.0.1:${port}/app`)
    expect((error as Error).message).toContain('ECONNREFUSED')
    expect(log.text()).toContain('not reachable yet')
    expect(JSON.stringify(error) + String(error) + (error as Error).stack + log.text()).not.toContain('s3cr3t-pw')
  })

  it('waits for a server that is still starting and migrates once it accepts connections', async () => {
    const port = await freePort()
    const migrator = createMigrator({
      url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
      migrations: [{ id: '1', up: 'create table started_late (x int)' }],
      connectTimeout: 60_000,
      logger: false,
    })
    const run = migrator.run()
    await expect.poll(() => migrator.health().status, eventually).toBe('waiting-for-database')
    const server = await startEmbeddedPostgres(port)
    try {
      await expect(run).resolves.toMatchObject({ current: '1' })
    } finally {
      await server.stop()
    }
  })
})
