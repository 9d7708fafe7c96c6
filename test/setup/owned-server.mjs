// A database server owned by a child process of its own (embedded-postgres-owner.mjs, mariadb-owner.mjs): nothing
// in the caller's process can touch its exit code, and the server goes when the caller dies (the IPC channel closes).
import { fork } from 'node:child_process'

/**
 * Forks `script` with `args`, waits for its { url }, and returns the server's controls.
 * @param {string} script the owner script
 * @param {string[]} args its arguments
 * @param {string} label names the server in errors
 * @returns {Promise<{ url: string, restart(): Promise<void>, stop(): Promise<void> }>} rejects with what the owner printed when the server cannot start
 */
export async function ownedServer(script, args, label) {
  // The caller's execArgv (vitest's loaders, --inspect) has no business in the owner.
  const child = fork(script, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] })
  let output = ''
  child.stdout?.on('data', (b) => (output += b))
  child.stderr?.on('data', (b) => (output += b))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  /** The owner's next answer; rejects with its reason (and what it printed) on { error } or its exit. */
  const reply = (/** @type {string} */ what) =>
    new Promise((resolve, reject) => {
      const fail = (/** @type {string} */ why) => {
        child.off('message', onMessage).off('error', onError).off('exit', onExit)
        reject(new Error(`${label} did not ${what}: ${why}${output ? `\n${output}` : ''}`))
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
  // Beyond the url, what else the owner reports (a standby's URL …) is handed back as it is.
  const { url, ...extra } = /** @type {{ url: string }} */ (await reply('start'))
  // From here the owner must not keep the caller alive: a caller that exits without stop() closes
  // the IPC channel, which stops the server all the same.
  child.unref()
  child.channel?.unref()
  for (const pipe of [child.stdout, child.stderr]) /** @type {import('node:net').Socket} */ (pipe).unref()
  return {
    ...extra,
    url,
    /** Shuts the server down (every session ends), then starts it again on the same port with the same data. */
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
