/** Holders per shared database instance and lock key. */
const held = new WeakMap<object, Map<string, string>>()

/**
 * The migration lock among the callers of one process that share one backend (PGlite). A session advisory
 * lock is re-entrant, so two migrators on the same instance would both be granted it; no other process can
 * open the instance, so a claim in this process is the whole lock. (The advisory lock is still taken, so
 * that pg_locks shows it.)
 */
export function inProcessLock(instance: object, key: string, instanceId: string) {
  const holders = held.get(instance) ?? new Map<string, string>()
  held.set(instance, holders)
  let mine = false
  return {
    claim(): boolean {
      if (mine) return true
      if (holders.has(key)) return false
      holders.set(key, `${instanceId} (pid ${process.pid}, this process)`)
      return (mine = true)
    },
    free() {
      if (mine) holders.delete(key)
      mine = false
    },
    /** Another caller of this process that holds it, for the waiting one's log. */
    holder: (): string | undefined => (mine ? undefined : holders.get(key)),
  }
}
