import type { Dialect, Replica } from '../dialects/dialect.js'
import { MigrationError, messageOf } from '../errors.js'
import type { Settings } from '../options.js'
import type { Runner } from '../runner.js'
import { redactUrl } from '../secrets.js'
import type { ReplicaHealth } from '../types.js'
import { jitter, sleep } from '../wait.js'

const LATE = Symbol('late')

/** `p`, or LATE once `deadline` passed (never sooner than `floor` ms from now, so a last poll can still answer). */
function by<T>(p: Promise<T>, deadline: number, floor = 250): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined
  p.catch(() => undefined)
  const late = new Promise<typeof LATE>((resolve) => (timer = setTimeout(() => resolve(LATE), Math.max(deadline - Date.now(), floor))))
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

const why = (e: unknown) => redactUrl(messageOf(e))

/**
 * Readiness with `replicas`: resolves once every replica has replayed past the target's last commit. First one
 * query per replica, in parallel (does its history have the applied revisions?); only when one is behind is the
 * primary's position taken, and the replicas that are behind polled against it until `replicaTimeout`. A replica
 * that cannot be reached is reported, and waited for no longer than the others. Runs after the lock is released.
 */
export async function awaitReplicas(r: Runner, dialect: Dialect, settings: Settings, appliedIds: string[]): Promise<void> {
  if (!settings.replicas.length) return
  const support = dialect.replicas
  if (!support)
    throw new MigrationError('INVALID_OPTIONS', `"replicas" is for PostgreSQL streaming replicas, and ${dialect.display} has none the migrator can ask: remove "replicas".`)
  const deadline = Date.now() + settings.replicaTimeout
  const replicas = support.open(settings.replicas, settings.replicaTimeout)
  const health: ReplicaHealth[] = replicas.map((x) => ({ name: x.name, lagBytes: null, lagSeconds: null, caughtUp: false, error: null }))
  r.state.replicas = health
  const caughtUp = (i: number) => Object.assign(health[i]!, { lagBytes: 0, lagSeconds: 0, caughtUp: true, error: null })
  // A poll that gets no answer in time keeps the reason an earlier one got (a driver backing off after ECONNREFUSED).
  const failed = (i: number, e: unknown) =>
    Object.assign(health[i]!, { lagBytes: null, lagSeconds: null, caughtUp: false, error: e === LATE ? (health[i]!.error ?? 'no answer') : `unreachable: ${why(e)}` })
  try {
    // An empty history: no revision for a replica to have replayed.
    if (!appliedIds.length) return void health.forEach((_, i) => caughtUp(i))
    await Promise.all(
      replicas.map((x, i) =>
        by(x.hasApplied(appliedIds), deadline).then(
          (ok) => (ok === LATE ? failed(i, LATE) : ok ? caughtUp(i) : undefined),
          (e) => failed(i, e),
        ),
      ),
    )
    if (health.every((h) => h.caughtUp)) return
    r.status('waiting-for-replicas')
    const position = await by(support.position(), deadline)
    if (position === LATE) throw replicaLag(health, settings, undefined)
    r.log.info(`waiting for ${health.filter((h) => !h.caughtUp).map((h) => h.name).join(', ')} to replay past ${position} (replicaTimeout ${settings.replicaTimeout} ms)`)
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      await Promise.all(replicas.map((x, i) => (health[i]!.caughtUp ? undefined : poll(x, i))))
      if (health.every((h) => h.caughtUp)) {
        r.log.info('every replica has replayed the migration')
        return
      }
      if (Date.now() >= deadline) throw replicaLag(health, settings, position)
      await sleep(Math.min(jitter(delay), Math.max(0, deadline - Date.now())), r.signal)
      r.aborted('while waiting for read replicas to catch up')
    }

    async function poll(x: Replica, i: number) {
      try {
        const lag = await by(x.lag(position as string, appliedIds), deadline)
        if (lag === LATE) return void failed(i, LATE)
        Object.assign(health[i]!, { lagBytes: lag.bytes, lagSeconds: Math.round(lag.seconds * 1000) / 1000, caughtUp: lag.caughtUp, error: null })
      } catch (e) {
        failed(i, e)
      }
    }
  } finally {
    await Promise.all(replicas.map((x) => x.close().catch((e) => r.log.warn(`closing the connection to ${x.name} failed: ${why(e)}`))))
  }
}

function replicaLag(health: ReplicaHealth[], settings: Settings, position: string | undefined): MigrationError {
  const behind = health
    .filter((h) => !h.caughtUp)
    .map((h) => (h.error ? `${h.name} is ${h.error === 'no answer' ? 'unreachable: no answer' : h.error}` : `${h.name} is ${h.lagBytes} bytes (${h.lagSeconds} s) behind`))
  return new MigrationError(
    'REPLICA_LAG',
    `The migration is applied, but ${behind.length} of ${health.length} read replica(s) did not replay it within replicaTimeout (${settings.replicaTimeout} ms)` +
      `${position ? `, past the primary's position ${position}` : ''}: ${behind.join('; ')}. ` +
      'Reads on them would not see the new schema. Check replication (pg_stat_replication on the primary, the replica\'s log), or raise replicaTimeout.',
  )
}
