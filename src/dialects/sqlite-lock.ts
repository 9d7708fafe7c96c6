import { randomUUID } from 'node:crypto'
import { readFileSync, rmdirSync, statSync, unlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import { MigrationError } from '../errors.js'

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
 * The thread that holds the lock folder `<database>.lock`: mkdir takes it (atomic on every file system SQLite
 * supports), the folder's mtime is refreshed every `update` ms, and a folder whose mtime is older than `stale`
 * is taken over (removed and made again). It runs on its own thread because better-sqlite3 blocks the main
 * thread for as long as a statement runs: a lock refreshed from there would go stale under a long CREATE INDEX,
 * and another process would take it over while the revision is still running.
 *
 * The lock is ours while the `owner` file inside holds our token: a refresh that finds another token, or no
 * folder, or that comes later than `stale` after the previous one (the process was paused, so someone may have
 * taken the folder over meanwhile), marks the lock lost, which the main thread reads right before COMMIT.
 *
 * Inline source with node: built-ins only, so that a bundle needs nothing on disk for it (a worker file would be
 * a path that not every bundler rewrites). It runs as a script or as a module (a worker inherits flags such as
 * --input-type=module): import() works in both.
 */
const WORKER_SOURCE = `
;(async () => {
  const { parentPort, workerData } = await import('node:worker_threads')
  const fs = await import('node:fs')
  const { join } = await import('node:path')
  const { dir, token, owner, stale, update } = workerData
  const lost = new Int32Array(workerData.state, 0, 1)
  const refreshed = new BigInt64Array(workerData.state, 8, 1)
  const ownerFile = join(dir, 'owner')
  let timer
  const message = (e) => String((e && e.message) || e)
  const ours = () => {
    try {
      return JSON.parse(fs.readFileSync(ownerFile, 'utf8')).token === token
    } catch {
      return false
    }
  }
  const touch = () => {
    const now = new Date()
    fs.utimesSync(dir, now, now)
    Atomics.store(refreshed, 0, BigInt(now.getTime()))
  }
  const lose = (why) => {
    clearInterval(timer)
    timer = undefined
    Atomics.store(lost, 0, 1)
    parentPort.postMessage({ type: 'lost', message: why })
  }
  const refresh = () => {
    const late = Date.now() - Number(Atomics.load(refreshed, 0))
    if (late > stale) return lose('it went ' + late + ' ms without a refresh (lockStale ' + stale + ' ms): was this process paused?')
    if (!ours()) return lose('its owner file names another process, or the lock folder is gone')
    try {
      touch()
    } catch (e) {
      lose('refreshing it failed: ' + message(e))
    }
  }
  const remove = () => {
    try { fs.unlinkSync(ownerFile) } catch (e) { if (e.code !== 'ENOENT') throw e }
    try { fs.rmdirSync(dir) } catch (e) { if (e.code !== 'ENOENT') throw e }
  }
  const take = (retry) => {
    try {
      fs.mkdirSync(dir)
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
      let mtime
      try {
        mtime = fs.statSync(dir).mtimeMs
      } catch (e2) {
        if (e2.code === 'ENOENT' && retry) return take(false)
        throw e2
      }
      if (!retry || Date.now() - mtime <= stale) return false
      remove()
      return take(false)
    }
    try {
      fs.writeFileSync(ownerFile, owner)
      touch()
    } catch (e) {
      // Another process took the folder over between our mkdir and now (it judged the old one stale): theirs.
      if (e.code === 'ENOENT') return false
      throw e
    }
    Atomics.store(lost, 0, 0)
    timer = setInterval(refresh, update)
    return true
  }
  parentPort.on('message', (m) => {
    if (m === 'try') {
      try {
        parentPort.postMessage({ type: take(true) ? 'locked' : 'busy' })
      } catch (e) {
        parentPort.postMessage({ type: 'error', code: e && e.code, message: message(e) })
      }
    } else if (m === 'release') {
      const held = timer !== undefined
      clearInterval(timer)
      timer = undefined
      try { if (held && ours()) remove() } catch {}
      parentPort.postMessage({ type: 'released' })
    }
  })
})()
`

type Reply = { type: 'locked' | 'busy' | 'released' } | { type: 'error'; code?: string; message: string }

/** Whether the owner file in `lockDir` carries `token`: read on the main thread, synchronously, right before COMMIT. */
const ownedBy = (lockDir: string, token: string): boolean => {
  try {
    return (JSON.parse(readFileSync(join(lockDir, 'owner'), 'utf8')) as { token?: unknown }).token === token
  } catch {
    return false
  }
}

/** A lock folder `<database>.lock` next to the database file, stale after `stale` ms without a refresh. */
export async function fileLock(dbPath: string, options: { stale: number; owner: LockOwner; display: string }): Promise<MigrationLock> {
  const file = resolve(dbPath)
  const lockDir = `${file}.lock`
  const token = randomUUID()
  // [0]: set by the lock thread when the lock is lost; [8..16]: when it last refreshed the folder (ms since the epoch).
  const state = new SharedArrayBuffer(16)
  const flag = new Int32Array(state, 0, 1)
  const refreshed = new BigInt64Array(state, 8, 1)
  // As proper-lockfile did: refreshed every stale/2, at most once a second.
  const update = Math.max(1000, Math.floor(options.stale / 2))
  let lostReason: string | undefined
  let worker: Worker | undefined
  let waiting: { resolve(r: Reply): void; reject(e: unknown): void } | undefined
  let held = false
  // An app that exits while migrating leaves no lock for the others to wait out (a crash does, until lockStale).
  const dropOnExit = () => {
    if (!held || lostReason || Atomics.load(flag, 0) || !ownedBy(lockDir, token)) return
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
        dir: lockDir,
        token,
        stale: options.stale,
        update,
        state,
        owner: JSON.stringify({ ...options.owner, since: new Date().toISOString(), token }),
      },
      stdout: false,
      stderr: false,
    })
    w.on('message', (m: Reply | { type: 'lost'; message: string }) => {
      if (m.type === 'lost') lostReason ??= `the lock was lost: ${m.message}`
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
      if (r.type === 'error')
        throw new MigrationError(
          'MIGRATION_FAILED',
          `Cannot create the migration lock ${lockDir} next to ${options.display}: ${r.message}. ` +
            'The folder of the database must be writable by every process that migrates it. Nothing was applied.',
        )
      held = r.type === 'locked'
      if (held) {
        lostReason = undefined
        process.once('exit', dropOnExit)
      }
      return held
    },
    // Asked right before COMMIT, so checked here and now as well as by the lock thread: a process paused past lockStale
    // and resumed may reach COMMIT before its lock thread runs again.
    lost() {
      if (!held) return undefined
      if (lostReason) return lostReason
      if (Atomics.load(flag, 0)) return `its lock folder was taken over after going ${options.stale} ms without a refresh: was this process paused?`
      const late = Date.now() - Number(Atomics.load(refreshed, 0))
      if (late > options.stale) return `its lock folder went ${late} ms without a refresh (lockStale ${options.stale} ms), so another process may have taken it over: was this process paused?`
      if (!ownedBy(lockDir, token)) return `its lock folder ${lockDir} was taken over by another process`
      return undefined
    },
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
