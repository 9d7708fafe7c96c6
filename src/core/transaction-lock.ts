import type { Connection, Executor } from './connection.js'

/**
 * A migration lock that lasts one transaction: what a connection through a transaction pooler (PgBouncer in
 * transaction mode, Supabase's port 6543, Neon's -pooler hosts) can hold, since between its transactions the
 * pooler may hand its server session to another client.
 */
export interface TransactionLock {
  /** One attempt, as the transaction's first statement; never blocks. Once taken it is held until the transaction ends. */
  take(tx: Executor): Promise<boolean>
  /** Who holds it, for logs and LOCK_TIMEOUT: asked outside any transaction of ours. */
  holder(on: Executor): Promise<string | undefined>
  /** Sessions that block our transaction right now, asked on another connection. */
  blockers(): Promise<string[]>
}

/** Ends an attempt's transaction without committing it: the lock was not ours. */
class NotTaken extends Error {}

/**
 * A connection whose whole run under the lock is one transaction, opened by each lock attempt and rolled back
 * when the lock is not free (so a waiter holds no server connection while it sleeps). Everything the migrator
 * does under the lock goes into that transaction, in savepoints (the driver's own, `Executor.nested`: a driver may
 * track errors in its transaction itself). Each transaction it asks for becomes one, so a revision that fails is
 * rolled back alone and a lock conflict retries it, as on a session; each statement outside one gets its own, so a
 * read of a history table that does not exist yet does not abort the rest. `finish()` commits the run; a process
 * killed before then leaves nothing of it in the database.
 */
export function transactionScoped(inner: Connection, lock: TransactionLock, lockTimeout: number): Connection {
  let open: { tx: Executor; end(commit: boolean): Promise<void> } | undefined

  async function begin() {
    let decide!: (commit: boolean) => void
    const decided = new Promise<boolean>((resolve) => (decide = resolve))
    let entered!: (tx: Executor) => void
    const inside = new Promise<Executor>((resolve) => (entered = resolve))
    const done = inner.transaction(
      async (tx) => {
        entered(tx)
        if (!(await decided)) throw new NotTaken()
      },
      { lockTimeout, statements: [] },
    )
    done.catch(() => undefined)
    const tx = await Promise.race([inside, done.then(() => Promise.reject(new Error('the migration transaction ended before it began')))])
    return {
      tx,
      async end(commit: boolean) {
        decide(commit)
        await done.catch((e) => {
          if (!(e instanceof NotTaken)) throw e
        })
      },
    }
  }

  const current = () => {
    if (!open) throw new Error('no migration transaction is open: the lock is not held')
    return open.tx
  }

  /** `work` inside a savepoint of the open transaction: when it fails, only what it did is rolled back. */
  function isolated<T>(work: (tx: Executor) => Promise<T>): Promise<T> {
    const tx = current()
    if (!tx.nested) return Promise.reject(new Error('this driver has no savepoints: it cannot run a migration through a transaction pooler'))
    return tx.nested(work)
  }

  return {
    query: (text, params) => (open ? isolated((tx) => tx.query(text, params)) : inner.query(text, params)),
    batch: (statements) => (open ? isolated((tx) => tx.batch(statements)) : inner.batch(statements)),
    transaction: (work, { lockTimeout: ms }) =>
      isolated(async (tx) => {
        const [, result] = await Promise.all([tx.query(`select set_config('lock_timeout', $1, true)`, [`${Math.max(0, Math.round(ms))}ms`]), work(tx)])
        return result
      }),
    context: (tx) => inner.context(tx ?? open?.tx),
    get whenLost() {
      return inner.whenLost
    },
    async setLockTimeout(ms) {
      if (open) await current().query(`select set_config('lock_timeout', $1, true)`, [`${Math.max(0, Math.round(ms))}ms`])
    },
    async tryLock() {
      if (open) return true
      const attempt = await begin()
      let taken = false
      try {
        taken = await lock.take(attempt.tx)
      } finally {
        if (!taken) await attempt.end(false).catch(() => undefined)
      }
      if (taken) open = attempt
      return taken
    },
    lockHolder: () => (open ? isolated((tx) => lock.holder(tx)) : lock.holder(inner)),
    blockers: () => lock.blockers(),
    // Asked on the connection, which the open transaction holds; an interrupted concurrent build cannot have come
    // through a transaction pooler, which refuses no-transaction revisions.
    leftovers: () => (open ? Promise.resolve([]) : inner.leftovers()),
    async reset() {
      // A session setting or temp table committed with the transaction would stay on the pooler's server
      // connection and reach its next client: reset inside the transaction, before it commits.
      if (open && !inner.lost()) await isolated((tx) => tx.query('set session authorization default; reset all; discard temp'))
    },
    cancel: () => inner.cancel(),
    lost: () => inner.lost(),
    async finish() {
      const o = open
      open = undefined
      await o?.end(true)
    },
    async close() {
      // A run that failed part-way keeps what it completed, as on a session: each failed part was rolled back to its savepoint.
      const o = open
      open = undefined
      try {
        if (o && !inner.lost()) await o.end(true)
      } finally {
        // No session lock to release: closing at once frees the connection.
        await inner.destroy()
      }
    },
    async destroy() {
      open = undefined
      await inner.destroy()
    },
  }
}
