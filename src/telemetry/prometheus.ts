import type { HealthState } from '../health.js'
import type { ResponseLike } from '../health.js'
import { replicasOf, type Stats } from './stats.js'

type Sample = [labels: Record<string, string>, value: number]
interface Family {
  name: string
  help: string
  type: 'gauge' | 'counter'
  samples: Sample[]
}

/** Label values escaped as the text format wants them (backslash, double quote, newline). */
const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
const labels = (l: Record<string, string>) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escape(v)}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}
const seconds = (ms: number) => ms / 1000

/**
 * Prometheus text exposition (0.0.4) of the migrator's numbers: ids, counts and durations only, never SQL or URLs.
 * A family without a sample yet (no run finished, no replicas) is left out.
 */
export function prometheusText(stats: Stats, state: HealthState): string {
  const last = stats.last
  const replicas = replicasOf(state)
  const families: Family[] = [
    { name: 'boot_migrate_ready', help: 'Whether the database is at the target (1) or not yet, or the run failed (0).', type: 'gauge', samples: [[{}, state.status === 'ready' ? 1 : 0]] },
    {
      name: 'boot_migrate_runs_total',
      help: 'Runs of run() that ended, by outcome.',
      type: 'counter',
      samples: [
        [{ outcome: 'ready' }, stats.runs.ready],
        [{ outcome: 'failed' }, stats.runs.failed],
      ],
    },
    { name: 'boot_migrate_run_duration_seconds', help: 'Duration of the last run, lock wait included.', type: 'gauge', samples: last ? [[{ outcome: last.outcome }, seconds(last.end - last.start)]] : [] },
    { name: 'boot_migrate_lock_wait_seconds', help: 'How long the last run that took the migration lock waited for it.', type: 'gauge', samples: last?.lock ? [[{}, seconds(last.lock.waitedMs)]] : [] },
    { name: 'boot_migrate_revisions_applied_total', help: 'Revisions applied by this process.', type: 'counter', samples: [[{}, stats.applied]] },
    { name: 'boot_migrate_revisions_reverted_total', help: 'Revisions reverted by this process.', type: 'counter', samples: [[{}, stats.reverted]] },
    { name: 'boot_migrate_revisions_failed_total', help: 'Revisions that failed in this process.', type: 'counter', samples: [[{}, stats.failedRevisions]] },
    { name: 'boot_migrate_pending_revisions', help: 'Revisions this code ships that the database has not applied.', type: 'gauge', samples: [[{}, state.pending.length]] },
    {
      name: 'boot_migrate_replica_lag_bytes',
      help: 'How far each read replica is behind the primary position readiness waits for, in bytes of WAL.',
      type: 'gauge',
      samples: replicas.flatMap((r): Sample[] => (r.lagBytes === null ? [] : [[{ replica: r.name }, r.lagBytes]])),
    },
    {
      name: 'boot_migrate_replica_lag_seconds',
      help: 'How far each read replica is behind the primary, in seconds of replay.',
      type: 'gauge',
      samples: replicas.flatMap((r): Sample[] => (r.lagSeconds === null ? [] : [[{ replica: r.name }, r.lagSeconds]])),
    },
  ]
  const out: string[] = []
  for (const f of families) {
    if (!f.samples.length) continue
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`)
    for (const [l, v] of f.samples) out.push(`${f.name}${labels(l)} ${v}`)
  }
  return `${out.join('\n')}\n`
}

const headers = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }

/** Node `(req, res)` handler for a /metrics route (Express, Connect, node:http, Fastify's reply.raw). */
export function metricsHandler(text: () => string) {
  return (req: { method?: string }, res: ResponseLike): void => {
    res.statusCode = 200
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
    res.end(req?.method === 'HEAD' ? undefined : text())
  }
}

/** Fetch-style `(Request) => Response` handler (Hono, Next.js route handlers, workers). */
export function metricsFetchHandler(text: () => string) {
  return (req?: Request): Response => new Response(req?.method === 'HEAD' ? null : text(), { status: 200, headers })
}
