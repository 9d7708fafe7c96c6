// The child process that owns a PostgreSQL primary and its streaming standby (see pg-replica.mjs), so both die
// with the test that started them. The standby is made as an operator makes one: pg_basebackup -R (a copy of the
// primary, standby.signal and primary_conninfo) from the system's PostgreSQL binaries.
//
// argv[2]: the binaries' folder; argv[3], argv[4]: the primary's and the standby's ports. IPC to the parent:
// { url, standby } once both are ready, or { error }. Both servers are stopped and their folder removed when
// the parent disconnects (stop(), exit or crash) or on SIGINT/SIGTERM/SIGHUP.
import { spawn } from 'node:child_process'
import { appendFile, chown, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serverUser } from './server-user.mjs'

const [bin, primaryPort, standbyPort] = process.argv.slice(2)
const send = (/** @type {object} */ message) =>
  new Promise((resolve) => (process.connected && process.send ? process.send(message, () => resolve(undefined)) : resolve(undefined)))
let log = ''
const keep = (/** @type {string} */ text) => (log = (log + text).slice(-20_000))

const user = serverUser(keep)
const base = await mkdtemp(join(tmpdir(), 'boot-migrate-replica-'))
if (user) await chown(base, user.uid, user.gid)
// cwd: the caller's folder may be one the server user cannot enter. English messages: the ready lines below.
const options = { ...user, cwd: base, env: { ...process.env, LC_MESSAGES: 'C', PGAPPNAME: 'pg_basebackup' } }
/** @type {import('node:child_process').ChildProcess[]} */
const servers = []

function run(/** @type {string} */ file, /** @type {string[]} */ args) {
  keep(`$ ${file} ${args.join(' ')}\n`)
  return new Promise((resolve, reject) => {
    const child = spawn(join(bin, file), args, options)
    child.stdout?.on('data', (b) => keep(String(b)))
    child.stderr?.on('data', (b) => keep(String(b)))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`${file} exited with ${code}`))))
  })
}

/** Starts a server on `data`; resolves once its log says it takes connections (`ready`). */
function serve(/** @type {string} */ data, /** @type {string} */ port, /** @type {string} */ ready) {
  const args = ['-D', data, '-p', port, '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${base}`]
  keep(`$ postgres ${args.join(' ')}\n`)
  const child = spawn(join(bin, 'postgres'), args, options)
  servers.push(child)
  let seen = ''
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (b) => keep(String(b)))
    child.stderr?.on('data', (b) => {
      keep(String(b))
      seen += String(b)
      if (seen.includes(ready)) resolve(undefined)
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => reject(new Error(`postgres exited with ${code ?? signal} before it was ready`)))
  })
}

async function setup() {
  const primary = join(base, 'primary')
  const standby = join(base, 'standby')
  await run('initdb', [`--pgdata=${primary}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--lc-messages=C'])
  // wal_level=replica is the default since PostgreSQL 10; said here because the standby depends on it.
  await appendFile(join(primary, 'postgresql.conf'), '\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n')
  await appendFile(join(primary, 'pg_hba.conf'), '\nhost replication postgres 127.0.0.1/32 trust\n')
  await serve(primary, primaryPort, 'database system is ready to accept connections')
  await run('pg_basebackup', ['-h', '127.0.0.1', '-p', primaryPort, '-U', 'postgres', '-D', standby, '-R', '-X', 'stream', '-c', 'fast'])
  await serve(standby, standbyPort, 'database system is ready to accept read-only connections')
}

/** Fast shutdown of both, standby first; then the folder goes. */
let stopping = /** @type {Promise<void> | undefined} */ (undefined)
function stop() {
  stopping ??= (async () => {
    for (const s of [...servers].reverse()) {
      if (s.exitCode !== null || s.signalCode !== null) continue
      const exited = new Promise((r) => s.once('exit', r))
      s.kill('SIGINT')
      const late = setTimeout(() => s.kill('SIGKILL'), 30_000)
      await exited
      clearTimeout(late)
    }
    await rm(base, { recursive: true, force: true })
  })()
  return stopping
}
const stopAndExit = (/** @type {number} */ code) => () => void stop().finally(() => process.exit(code))
process.on('disconnect', stopAndExit(0))
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.on(signal, stopAndExit(1))

setup().then(
  () => send({ url: `postgres://postgres@127.0.0.1:${primaryPort}/postgres`, standby: `postgres://postgres@127.0.0.1:${standbyPort}/postgres` }),
  async (/** @type {unknown} */ e) => {
    await stop().catch(() => undefined)
    await send({ error: `${e instanceof Error ? e.message : String(e)}\n${log}` })
    process.exit(1)
  },
)
