// The child process that owns one throwaway MariaDB/MySQL server (see mariadb.mjs): it initialises a
// data folder under the temp folder, runs the server on the given port (127.0.0.1 only), waits until
// it accepts connections and creates the database `test`. Its exit code is nobody's business, and
// every start failure comes back with the server's log.
//
// argv[2]: JSON { server, kind, installDb?, port, args }. IPC to the parent: { url } once ready, or
// { error }. From the parent: 'restart' (clean shutdown, then start again on the same port with the
// same data; answers { restarted: true } or { error }). The server is stopped and its folder removed
// when the parent disconnects (stop(), exit or crash) or on SIGINT/SIGTERM/SIGHUP.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import mysql from 'mysql2/promise'

const config = /** @type {{ server: string, kind: 'mariadb' | 'mysql', installDb?: string, port: number, args: string[] }} */ (
  JSON.parse(process.argv[2])
)
const { server: binary, kind, installDb, port } = config
/** Resolves once the message is out (or the parent is gone), so exiting right after loses nothing. */
const send = (/** @type {object} */ message) =>
  new Promise((resolve) => (process.connected && process.send ? process.send(message, () => resolve(undefined)) : resolve(undefined)))
let log = ''
const keep = (/** @type {string} */ text) => (log = (log + text).slice(-20_000))
let base = /** @type {string | undefined} */ (undefined)
/** What the server wrote to its error log (the last 20,000 characters), for failures. */
const serverLog = async () => {
  if (!base) return ''
  const text = await readFile(join(base, 'error.log'), 'utf8').catch(() => '')
  return text ? `--- ${join(base, 'error.log')} ---\n${text.slice(-20_000)}` : ''
}
const failure = async (/** @type {unknown} */ e) => `${e instanceof Error ? e.message : String(e)}\n${log}${await serverLog()}`

// Root: the server refuses to run as root unless told to; --user=root keeps everything owned by
// root in a folder only root can enter (running as the `mysql` user would need the folder, and the
// binaries' path, reachable by that user). Any other user runs it as itself.
const asRoot = process.getuid?.() === 0 ? ['--user=root'] : []

/** Runs a binary to completion; its output (a page of boilerplate on success) goes into the log only when it fails. */
function run(/** @type {string} */ file, /** @type {string[]} */ args) {
  keep(`$ ${file} ${args.join(' ')}\n`)
  let output = ''
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (b) => (output += b))
    child.stderr?.on('data', (b) => (output += b))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) return resolve(undefined)
      keep(output)
      reject(new Error(`${file} exited with ${code}`))
    })
  })
}

let server = /** @type {import('node:child_process').ChildProcess | undefined} */ (undefined)
let stopping = /** @type {Promise<void> | undefined} */ (undefined)
let serverArgs = /** @type {string[]} */ ([])

/** Starts the server on the initialised data and waits until root can connect over TCP. */
async function launch() {
  keep(`$ ${binary} ${serverArgs.join(' ')}\n`)
  const child = spawn(binary, serverArgs, { cwd: base, stdio: ['ignore', 'pipe', 'pipe'] })
  server = child
  child.stdout?.on('data', (b) => keep(String(b)))
  child.stderr?.on('data', (b) => keep(String(b)))
  let gone = /** @type {string | undefined} */ (undefined)
  child.on('error', (e) => (gone = e.message))
  child.on('exit', (code, signal) => (gone = `${binary} exited with ${code ?? signal} before it accepted connections`))
  const deadline = Date.now() + 120_000
  let last = /** @type {unknown} */ (undefined)
  for (;;) {
    if (gone) throw new Error(gone)
    if (stopping) throw new Error('the server is being stopped')
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: 2_000 })
      const [rows] = await c.query('select @@socket as socket').finally(() => c.end())
      // Another server on the port (a given port that was taken) must not pass for ours.
      const socket = /** @type {Array<{ socket: string }>} */ (rows)[0]?.socket
      if (socket !== join(/** @type {string} */ (base), 'sock')) {
        throw new Error(`another server answers on port ${port} (its socket: ${socket}); ours could not take the port`)
      }
      return
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('another server')) throw e
      last = e
    }
    if (Date.now() > deadline) throw new Error(`no connection after 120 s: ${last instanceof Error ? last.message : String(last)}`)
    await sleep(100)
  }
}

async function setup() {
  // One folder for everything (data, socket, pid, log), removed on stop.
  base = await mkdtemp(join(tmpdir(), 'boot-migrate-mysql-'))
  const data = join(base, 'data')
  const log = join(base, 'error.log')
  if (kind === 'mariadb') {
    await run(/** @type {string} */ (installDb), [
      '--no-defaults',
      '--auth-root-authentication-method=normal', // root@localhost without a password, not unix_socket
      `--datadir=${data}`,
      '--skip-test-db',
      ...asRoot,
    ])
  } else {
    // MySQL 5.7+: root@localhost without a password.
    await run(binary, ['--no-defaults', '--initialize-insecure', `--datadir=${data}`, `--log-error=${log}`, ...asRoot])
  }
  serverArgs = [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${join(base, 'sock')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-networking=0',
    `--pid-file=${join(base, 'pid')}`,
    `--log-error=${log}`,
    ...asRoot,
    // Ten processes at once plus the suite's own clients, several files at a time.
    '--max-connections=300',
    // As Debian's packaged configuration (and this project's CI server) sets them: utf8mb4 throughout.
    '--character-set-server=utf8mb4',
    '--collation-server=utf8mb4_general_ci',
    // MySQL 8's X plugin would take port 33060 for every server; MariaDB has none.
    ...(kind === 'mysql' ? ['--mysqlx=OFF'] : []),
    ...config.args,
  ]
  await launch()
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' })
  try {
    await c.query('create database if not exists test')
  } finally {
    await c.end()
  }
}

/** Clean shutdown (SIGTERM); SIGKILL after 30 s. The data is kept. */
async function halt() {
  const s = server
  if (!s || s.exitCode !== null || s.signalCode !== null) return
  const exited = new Promise((r) => s.once('exit', r))
  s.kill('SIGTERM')
  const late = setTimeout(() => s.kill('SIGKILL'), 30_000)
  await exited
  clearTimeout(late)
}

/** Halts the server, then the folder goes. Idempotent. */
function stop() {
  stopping ??= halt().then(() => (base ? rm(base, { recursive: true, force: true }) : undefined))
  return stopping
}

process.on('message', (m) => {
  if (m !== 'restart') return
  halt()
    .then(() => {
      // A stop that came in during the shutdown wins: no server on a folder that is being removed.
      if (stopping) throw new Error('the server is being stopped')
      return launch()
    })
    .then(
      () => send({ restarted: true }),
      async (e) => send({ error: await failure(e) }),
    )
})
const stopAndExit = (/** @type {number} */ code) => () => void stop().finally(() => process.exit(code))
process.on('disconnect', stopAndExit(0))
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.on(signal, stopAndExit(1))

setup().then(
  () => send({ url: `mysql://root@127.0.0.1:${port}/test` }),
  async (/** @type {unknown} */ e) => {
    // The server gone first (its log complete), the log read before stop() removes the folder.
    await halt().catch(() => undefined)
    const why = await failure(e)
    await stop().catch(() => undefined)
    await send({ error: why })
    process.exit(1)
  },
)
