import { hostname } from 'node:os'
import { loadPostgres } from '../dialects/postgres-driver.js'
import type { Migrator } from '../migrator.js'
import type { BatchProgress, MigrateOptions } from '../types.js'
import { clearLive, errLine, jsonLine, liveLine } from './output.js'

interface IndexProgress {
  phase: string
  index: string | null
  table: string | null
  blocks_done: string
  blocks_total: string
  tuples_done: string
  tuples_total: string
  lockers_done: string
  lockers_total: string
}
type Sql = ((strings: TemplateStringsArray, ...v: unknown[]) => Promise<IndexProgress[]>) & { end(o?: { timeout?: number }): Promise<void> }

/** How often a running revision is reported: BOOT_MIGRATE_PROGRESS_MS, else every 5 s on a terminal and 10 s in a log. */
const intervalOf = (tty: boolean) => {
  const v = Number(process.env.BOOT_MIGRATE_PROGRESS_MS)
  return Number.isFinite(v) && v > 0 ? v : tty ? 5_000 : 10_000
}

const seconds = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`)

function describeIndex(p: IndexProgress): string {
  const n = (s: string) => Number(s)
  const of = (done: string, total: string, what: string) => (n(total) > 0 ? `, ${what} ${done} of ${total} (${Math.floor((100 * n(done)) / n(total))}%)` : '')
  return (
    `${p.index ? `index ${p.index}` : 'index'}${p.table ? ` on ${p.table}` : ''}: ${p.phase}` +
    (of(p.blocks_done, p.blocks_total, 'blocks') || of(p.tuples_done, p.tuples_total, 'tuples') || of(p.lockers_done, p.lockers_total, 'sessions waited for'))
  )
}

/**
 * While a revision runs longer than the interval: a line saying so with the elapsed time (rewritten in place on
 * a terminal, plain lines in a log, JSON lines with --json); on PostgreSQL, the phase and blocks done of a
 * concurrent index build, read from pg_stat_progress_create_index on a connection of its own, opened only then.
 */
export function progress(migrator: Migrator, o: MigrateOptions, json: boolean): () => Promise<void> {
  const tty = !json && !!process.stderr.isTTY
  const every = intervalOf(tty)
  const url = o.migrationUrl ?? o.url
  const pg = !!url && /^postgres(ql)?:\/\//i.test(url)
  const appName = `boot-migrate ${o.instanceId ?? `${hostname()}:${process.pid}`}`.slice(0, 63)
  let sql: Sql | undefined
  let timer: NodeJS.Timeout | undefined
  let running: { id: string; name: string; since: number; batch?: BatchProgress } | undefined

  const indexBuild = async (): Promise<IndexProgress | undefined> => {
    if (!pg) return undefined
    try {
      if (!sql) {
        const postgres = (await loadPostgres()) as unknown as (url: string, o: object) => Sql
        sql = postgres(url!, { max: 1, connect_timeout: 5, idle_timeout: 0, fetch_types: false, onnotice: () => undefined, connection: { application_name: 'boot-migrate progress' } })
      }
      const [row] = await sql`
        select p.phase, case when p.index_relid = 0 then null else p.index_relid::regclass::text end as index,
               p.relid::regclass::text as table, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total, p.lockers_done, p.lockers_total
        from pg_stat_progress_create_index p join pg_stat_activity a on a.pid = p.pid
        where a.application_name = ${appName}`
      return row
    } catch {
      // Progress is a courtesy: a failure to read it never disturbs the migration.
      return undefined
    }
  }

  const tick = async () => {
    const rev = running
    if (!rev) return
    const elapsedMs = Date.now() - rev.since
    // A backfill in ctx.batch says how far it is; there is no index build to look for then.
    const batch = rev.batch
    const index = batch ? undefined : await indexBuild()
    if (running !== rev) return
    if (json) {
      jsonLine({ event: 'progress', revision: rev.id, name: rev.name, elapsedMs, ...(index ? { index } : {}), ...(batch ? { batch } : {}) })
      return
    }
    const line =
      `[boot-migrate] ${rev.id}_${rev.name} running for ${seconds(elapsedMs)}${index ? `; ${describeIndex(index)}` : ''}` +
      (batch ? `; ctx.batch: ${batch.batches} batch(es), ${batch.rows} rows, ${batch.rowsPerSecond} rows/s` : '')
    if (tty) liveLine(line)
    else errLine(line)
  }

  const clear = () => {
    clearInterval(timer)
    timer = undefined
    running = undefined
    clearLive()
  }

  const offs = [
    migrator.on('migration:start', (r) => {
      clear()
      running = { id: r.id, name: r.name, since: Date.now() }
      if (json) jsonLine({ event: 'migration:start', revision: r.id, name: r.name })
      timer = setInterval(() => void tick(), every)
      timer.unref?.()
    }),
    migrator.on('batch:progress', (b) => {
      if (running?.id === b.id) running.batch = { batches: b.batches, rows: b.rows, rowsPerSecond: b.rowsPerSecond }
    }),
    migrator.on('migration:end', (r) => {
      clear()
      if (json) jsonLine({ event: 'migration:end', revision: r.id, name: r.name, durationMs: r.durationMs })
    }),
    migrator.on('lock:wait', (w) => json && jsonLine({ event: 'lock:wait', holder: w.holder ?? null, waitedMs: w.waitedMs })),
    migrator.on('lock:acquired', (w) => json && jsonLine({ event: 'lock:acquired', waitedMs: w.waitedMs })),
  ]

  return async () => {
    clear()
    for (const off of offs) off()
    await sql?.end({ timeout: 1 }).catch(() => undefined)
  }
}
