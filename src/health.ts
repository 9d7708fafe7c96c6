import type { MigrationError } from './errors.js'
import type { BatchProgress, HealthSnapshot, MigrationStatus, ReplicaHealth } from './types.js'

/** The state behind `health()`: a plain object the migrator updates and readers copy. */
export interface HealthState {
  status: MigrationStatus
  current: string | null
  target: string | null
  pending: string[]
  /** Pending revisions left for `phase: 'contract'`: not in `pending`, and readiness does not wait for them. */
  deferred: string[]
  applying: { id: string; name: string; since: number; batch?: BatchProgress | null } | null
  /** Whether the revision in progress is being applied or reverted. */
  direction: 'up' | 'down'
  error: MigrationError | null
  /** Set with the `replicas` option: each replica's lag, refreshed while readiness waits for them. */
  replicas?: ReplicaHealth[]
}

export const initialHealth = (): HealthState => ({ status: 'idle', current: null, target: null, pending: [], deferred: [], applying: null, direction: 'up', error: null })

export function snapshot(s: HealthState, now = Date.now()): HealthSnapshot {
  return {
    status: s.status,
    ready: s.status === 'ready',
    current: s.current,
    target: s.target,
    pending: [...s.pending],
    deferred: [...s.deferred],
    applying: s.applying && { id: s.applying.id, name: s.applying.name, sinceMs: now - s.applying.since, batch: s.applying.batch ? { ...s.applying.batch } : null },
    error: s.error && { code: s.error.code, message: s.error.message },
    ...(s.replicas ? { replicas: s.replicas.map((x) => ({ ...x })) } : {}),
  }
}

export interface ReadinessOptions {
  /** Adds pending ids, the revision in progress and the error message: for internal endpoints only. */
  detail?: boolean
}

/** What a probe sees: status, ids and an error code; never SQL, connection strings or stacks unless `detail`. */
export function readinessBody(h: HealthSnapshot, options: ReadinessOptions = {}) {
  if (options.detail) return h
  return {
    status: h.status,
    ready: h.ready,
    current: h.current,
    target: h.target,
    pending: h.pending.length,
    applying: h.applying?.id ?? null,
    error: h.error?.code ?? null,
  }
}

/** The parts of node:http's ServerResponse the handler uses (Express, Connect and Fastify's `reply.raw` have them). */
export interface ResponseLike {
  statusCode: number
  setHeader(name: string, value: string): unknown
  end(body?: string): unknown
}

const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }

export function nodeHandler(read: () => HealthSnapshot, options?: ReadinessOptions) {
  return (req: { method?: string }, res: ResponseLike): void => {
    const h = read()
    res.statusCode = h.ready ? 200 : 503
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
    res.end(req?.method === 'HEAD' ? undefined : JSON.stringify(readinessBody(h, options)))
  }
}

export function fetchHandler(read: () => HealthSnapshot, options?: ReadinessOptions) {
  return (req?: Request): Response => {
    const h = read()
    return new Response(req?.method === 'HEAD' ? null : JSON.stringify(readinessBody(h, options)), { status: h.ready ? 200 : 503, headers })
  }
}
