import { readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve, sep } from 'node:path'
import { Worker } from 'node:worker_threads'
import { MigrationError, messageOf } from '../errors.js'

/** The migration lock of one SQLite file, as a session uses it. */
export interface MigrationLock {
  /** One attempt; never waits for the holder. */
  tryLock(): Promise<boolean>
  /** Why the lock is no longer ours, once that is known. Synchronous, so it can be asked right before COMMIT. */
  lost(): string | undefined
  holder(): Promise<string | undefined>
  release(): Promise<void>
}

export interface LockOwner {
  instanceId: string
  pid: number
  host: string
}

/**
 * The worker that holds the lock through proper-lockfile. It runs in its own thread because better-sqlite3
 * blocks the main thread for as long as a statement runs: a lock refreshed from there would go stale under
 * a long CREATE INDEX, and another process would take it over while the revision is still running.
 * The owner file is written inside the lock folder right after mkdir, before proper-lockfile first reads the
 * folder's mtime (adding a file later would change that mtime and make proper-lockfile think it was taken over).
 */
const WORKER_SOURCE = `
// Runs as a script or as a module (the worker inherits flags such as --input-type=module): import() works in both.
;(async () => {
  const { parentPort, workerData } = await import('node:worker_threads')
  const fs = (await import('node:fs')).default
  const path = (await import('node:path')).default
  const { createRequire } = await import('node:module')
  const lost = new Int32Array(workerData.lost)
  const ownerFile = (dir) => path.join(dir, 'owner')
  const lockFs = Object.assign({}, fs, {
    mkdir(dir, cb) {
      fs.mkdir(dir, (err) => {
        if (!err) try { fs.writeFileSync(ownerFile(dir), workerData.owner) } catch {}
        cb(err)
      })
    },
    rmdir(dir, cb) {
      fs.unlink(ownerFile(dir), () => fs.rmdir(dir, cb))
    },
  })
  let lockfile
  let release
  try {
    lockfile = createRequire(path.join(process.cwd(), 'noop.js'))(workerData.module)
  } catch (e) {
    parentPort.postMessage({ type: 'error', code: 'DRIVER_MISSING', message: String((e && e.message) || e) })
    return
  }
  parentPort.on('message', async (m) => {
    if (m === 'try') {
      try {
        release = await lockfile.lock(workerData.file, {
          realpath: false,
          retries: 0,
          stale: workerData.stale,
          fs: lockFs,
          onCompromised(err) {
            Atomics.store(lost, 0, 1)
            parentPort.postMessage({ type: 'lost', message: String((err && err.message) || err) })
          },
        })
        parentPort.postMessage({ type: 'locked' })
      } catch (e) {
        parentPort.postMessage(e && e.code === 'ELOCKED' ? { type: 'busy' } : { type: 'error', code: e && e.code, message: String((e && e.message) || e) })
      }
    } else if (m === 'release') {
      try { if (release) await release() } catch {}
      release = undefined
      parentPort.postMessage({ type: 'released' })
    }
  })
})()
`

type Reply = { type: 'locked' | 'busy' | 'released' } | { type: 'error'; code?: string; message: string }

const importModule = (specifier: string): Promise<unknown> => import(specifier)

/**
 * Where proper-lockfile is, found without running it on this thread: it installs signal-exit, whose
 * SIGTERM handler kills an app that registered its own with process.once (once that one is removed, it
 * re-raises the signal). A side-effect-free file of the package is imported instead, as this bundle would
 * resolve it, and its path read from the CommonJS cache (no import.meta, which the CJS build lacks).
 */
async function lockfileModule(): Promise<string> {
  try {
    await importModule('proper-lockfile/lib/mtime-precision.js')
  } catch (e) {
    throw new MigrationError('DRIVER_MISSING', `Locking a SQLite database needs the "proper-lockfile" package: npm install proper-lockfile (${messageOf(e)})`, {
      cause: e,
    })
  }
  const cache = createRequire(join(process.cwd(), 'noop.js')).cache
  const probe = `${sep}proper-lockfile${sep}lib${sep}mtime-precision.js`
  const found = Object.keys(cache).find((k) => k.endsWith(probe))
  return found ? join(found, '..', '..', 'index.js') : 'proper-lockfile'
}

/** A lock folder `<database>.lock` next to the database file, stale after `stale` ms without a refresh. */
export async function fileLock(dbPath: string, options: { stale: number; owner: LockOwner; display: string }): Promise<MigrationLock> {
  const lockfilePath = await lockfileModule()
  const file = resolve(dbPath)
  const lockDir = `${file}.lock`
  const flag = new Int32Array(new SharedArrayBuffer(4))
  let lostReason: string | undefined
  let worker: Worker | undefined
  let waiting: { resolve(r: Reply): void; reject(e: unknown): void } | undefined
  let held = false
  // An app that exits while migrating leaves no lock for the others to wait out (a crash does, until lockStale).
  const dropOnExit = () => {
    if (!held || lostReason || Atomics.load(flag, 0)) return
    try {
      unlinkSync(join(lockDir, 'owner'))
    } catch {}
    try {
      rmdirSync(lockDir)
    } catch {}
  }

  const start = () => {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        module: lockfilePath,
        file,
        stale: options.stale,
        lost: flag.buffer,
        owner: JSON.stringify({ ...options.owner, since: new Date().toISOString() }),
      },
      stdout: false,
      stderr: false,
    })
    w.on('message', (m: Reply | { type: 'lost'; message: string }) => {
      if (m.type === 'lost') lostReason ??= `proper-lockfile reports the lock compromised: ${m.message}`
      else {
        waiting?.resolve(m)
        waiting = undefined
      }
    })
    const gone = (e: unknown) => {
      if (held) lostReason ??= `the lock thread stopped (${String(e)})`
      waiting?.reject(e)
      waiting = undefined
      worker = undefined
    }
    w.on('error', gone)
    w.on('exit', (code) => gone(new Error(`lock thread exited with code ${code}`)))
    return w
  }

  const ask = (message: 'try' | 'release'): Promise<Reply> => {
    worker ??= start()
    const w = worker
    // Referenced only while a reply is due: an idle lock thread must not keep the process alive.
    w.ref()
    return new Promise<Reply>((resolve, reject) => {
      waiting = { resolve, reject }
      w.postMessage(message)
    }).finally(() => w.unref())
  }

  return {
    async tryLock() {
      const r = await ask('try')
      if (r.type === 'error') {
        if (r.code === 'DRIVER_MISSING')
          throw new MigrationError('DRIVER_MISSING', `Locking a SQLite database needs the "proper-lockfile" package: npm install proper-lockfile (${r.message})`)
        throw new MigrationError(
          'MIGRATION_FAILED',
          `Cannot create the migration lock ${lockDir} next to ${options.display}: ${r.message}. ` +
            'The folder of the database must be writable by every process that migrates it. Nothing was applied.',
        )
      }
      held = r.type === 'locked'
      if (held) {
        Atomics.store(flag, 0, 0)
        lostReason = undefined
        process.once('exit', dropOnExit)
      }
      return held
    },
    lost: () =>
      (held &&
        (lostReason ??
          (Atomics.load(flag, 0) ? `its lock file was taken over after going ${options.stale} ms without a refresh: was this process paused?` : undefined))) ||
      undefined,
    holder: async () => describeHolder(lockDir, options.stale),
    async release() {
      const w = worker
      if (!w) return
      try {
        if (held && !lostReason) await withTimeout(ask('release'), 5000)
      } finally {
        held = false
        worker = undefined
        process.removeListener('exit', dropOnExit)
        await w.terminate()
      }
    },
  }
}

const withTimeout = <T>(p: Promise<T>, ms: number) => {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]).finally(() => clearTimeout(timer))
}

/** Who holds the lock folder and how fresh it is, from its owner file and mtime. */
export function describeHolder(lockDir: string, stale: number, now = Date.now()): string | undefined {
  let mtime: number
  try {
    mtime = statSync(lockDir).mtimeMs
  } catch {
    return undefined
  }
  let who = 'a process that recorded no owner'
  try {
    const o = JSON.parse(readFileSync(join(lockDir, 'owner'), 'utf8')) as Partial<LockOwner & { since: string }>
    who = `${o.instanceId ?? 'unknown'} (pid ${o.pid ?? '?'} on ${o.host ?? '?'}, since ${o.since ?? '?'})`
  } catch {}
  const age = Math.max(0, Math.round((now - mtime) / 1000))
  return now - mtime > stale
    ? `${who}, whose lock file ${lockDir} was last refreshed ${age}s ago: stale, so the next attempt takes it over`
    : `${who}, lock file ${lockDir} refreshed ${age}s ago`
}

const memoryHolders = new WeakMap<object, string>()

/** An in-memory database exists in this process only: a lock per connection object is enough. */
export function memoryLock(db: object, owner: LockOwner): MigrationLock {
  let held = false
  return {
    async tryLock() {
      if (memoryHolders.has(db)) return false
      memoryHolders.set(db, `${owner.instanceId} (another migrator in this process, since ${new Date().toISOString()})`)
      return (held = true)
    },
    lost: () => undefined,
    holder: async () => memoryHolders.get(db),
    async release() {
      if (held) memoryHolders.delete(db)
      held = false
    },
  }
}
