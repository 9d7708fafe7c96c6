#!/usr/bin/env node
import { writeBundle } from './bundle.js'
import { init, newRevision } from './cli-files.js'
import { sqliteFile } from './dialects/sqlite-url.js'
import { deployOptions, needUrl, number, options, parse, timeoutOption, Usage, type Parsed } from './cli/args.js'
import { help, version } from './cli/help.js'
import { folderDialect } from './cli/folder-dialect.js'
import { offlineRevisions } from './cli/offline.js'
import { clearLive, cliLogger, red, redErr, statusText, table, yellow } from './cli/output.js'
import { progress } from './cli/progress.js'
import { isMigrationError, messageOf } from './errors.js'
import { createMigrator, lint, type Migrator } from './index.js'
import { findingText } from './lint/format.js'
import { withScratchDatabase } from './scratch.js'
import { roundTrip } from './testing.js'
import type { LintReport, MigrateOptions } from './types.js'

/** Exit codes: documented in --help and the README. */
const OK = 0
const FAILED = 1
const USAGE = 2
const BEHIND = 3

async function main(argv: string[]): Promise<number> {
  let json = argv.includes('--json')
  try {
    const p = parse(argv)
    json = p.json
    if (p.values.version) {
      console.log(json ? JSON.stringify({ version: version() }) : version())
      return OK
    }
    if (p.values.help || !p.command) {
      console.log(help(p.command || undefined))
      return p.command || p.values.help ? OK : USAGE
    }
    return await run(p)
  } catch (e) {
    const usage = e instanceof Usage
    const error = usage ? { code: 'USAGE', message: e.message } : isMigrationError(e) ? { code: e.code, message: e.message } : { code: 'MIGRATION_FAILED', message: messageOf(e) }
    clearLive()
    if (json) console.log(JSON.stringify({ error }))
    else console.error(usage ? e.message : redErr(`${error.code}: ${error.message}`))
    return usage ? USAGE : FAILED
  }
}

async function run({ command, arg, values, json }: Parsed): Promise<number> {
  const out = (data: unknown, text: () => string) => console.log(json ? JSON.stringify(data, null, 2) : text())
  const o: MigrateOptions = { ...options(values), logger: cliLogger(json) }
  /** A migrator on the database, with progress lines while a revision runs. */
  const withMigrator = async <T>(extra: Partial<MigrateOptions>, work: (m: Migrator) => Promise<T>): Promise<T> => {
    const m = createMigrator({ ...needUrl(o), ...extra })
    const stop = progress(m, o, json)
    // A Job past activeDeadlineSeconds or an evicted pod gets SIGTERM: stop() ends the run at a safe point (ABORTED)
    // instead of dying mid-statement. A second signal exits at once.
    let signalled = false
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) process.exit(sig === 'SIGINT' ? 130 : 143)
      signalled = true
      console.error(`${sig}: stopping at the next safe point (send it again to exit at once)`)
      void m.stop()
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    try {
      return await work(m)
    } finally {
      process.off('SIGTERM', onSignal)
      process.off('SIGINT', onSignal)
      await stop()
    }
  }
  switch (command) {
    case 'init': {
      const dir = await init(o.dir!)
      out({ dir }, () => `created ${dir}; add a first revision with: boot-migrate new <name>${o.dir === './migrations' ? '' : ` --dir ${o.dir}`}`)
      return OK
    }
    case 'new': {
      if (!arg) throw new Usage('Usage: boot-migrate new <name> [--js]', command)
      const file = await newRevision(o.dir!, arg, !!values.js)
      out({ file }, () => `created ${file}`)
      return OK
    }
    case 'up': {
      const r = await withMigrator({ ...(values.to ? { to: values.to as string } : {}), ...phaseOf(values), ...deployOptions(values) }, (m) => m.run())
      const deferred = r.deferred.length ? `; ${r.deferred.length} deferred (${r.deferred.join(', ')}): apply with boot-migrate up --contract after the rollout` : ''
      out(r, () => (r.applied.length ? `applied ${r.applied.map((a) => `${a.id} (${a.durationMs} ms)`).join(', ')}; at ${r.current}` : `up to date at ${r.current ?? 'an empty history'}`) + deferred)
      return OK
    }
    case 'down': {
      const steps = number(values.steps, 'steps')
      const r = await withMigrator({}, (m) => m.down({ ...(values.to ? { to: values.to as string } : {}), ...(steps !== undefined ? { steps } : {}) }))
      out(r, () => (r.reverted.length ? `reverted ${r.reverted.map((a) => a.id).join(', ')}; at ${r.current ?? 'an empty history'}` : 'nothing to revert'))
      return OK
    }
    case 'status': {
      const s = await withMigrator({}, (m) => m.status())
      out(s, () => statusText(s))
      return values['exit-code'] && (s.pending.length || s.dirty.length) ? BEHIND : OK
    }
    case 'history': {
      const s = await withMigrator({}, (m) => m.status())
      const applied = s.revisions.filter((x) => x.state !== 'pending').sort((a, b) => (b.appliedAt ?? '').localeCompare(a.appliedAt ?? ''))
      out(applied, () => (applied.length ? table([['id', 'name', 'applied at', 'ms', 'applied by'], ...applied.map((x) => [x.id, x.name, x.appliedAt ?? '', String(x.durationMs ?? ''), x.appliedBy ?? ''])]) : 'no revision applied'))
      return OK
    }
    case 'current': {
      const s = await withMigrator({}, (m) => m.status())
      out({ current: s.current }, () => s.current ?? 'none')
      return OK
    }
    case 'heads': {
      const revs = await offlineRevisions(o, values.dialect as string | undefined)
      const head = revs[revs.length - 1]?.id
      out({ heads: head ? [head] : [] }, () => head ?? 'none')
      return OK
    }
    case 'check':
      return await check(o, values, json)
    case 'stamp': {
      if (!arg) throw new Usage('Usage: boot-migrate stamp <ID>', command)
      const ids = await withMigrator({}, (m) => m.stamp(arg))
      out({ stamped: ids }, () => `recorded ${ids.length ? ids.join(', ') : 'nothing new'} as applied`)
      return OK
    }
    case 'resolve': {
      const chosen = (['resume', 'applied', 'rolled-back'] as const).filter((k) => values[k])
      if (!arg || chosen.length !== 1) throw new Usage('Usage: boot-migrate resolve <ID> --resume | --applied | --rolled-back', command)
      await withMigrator({}, (m) => m.resolve(arg, chosen[0]!))
      out({ resolved: arg, how: chosen[0] }, () => (chosen[0] === 'resume' ? `resumed and completed ${arg}` : `resolved ${arg}`))
      return OK
    }
    case 'sql': {
      const text = await withMigrator({ ...phaseOf(values), ...timeoutOption(values) }, (m) => m.script({ ...(values.from ? { from: values.from as string } : {}), ...(values.to ? { to: values.to as string } : {}) }))
      out({ sql: text }, () => text)
      return OK
    }
    case 'bundle': {
      const dir = arg ?? (values.dir as string | undefined)
      if (!dir || !values.out) throw new Usage('Usage: boot-migrate bundle <dir> --out FILE [--dialect postgres|sqlite|mysql]', command)
      const d = (values.dialect as string | undefined) ?? (o.url && sqliteFile(o.url) ? 'sqlite' : o.url && /^(mysql|mariadb):\/\//i.test(o.url) ? 'mysql' : 'postgres')
      if (d !== 'postgres' && d !== 'sqlite' && d !== 'mysql') throw new Usage(`--dialect is postgres, sqlite or mysql, not "${d}".`, command)
      const r = await writeBundle({ dir, out: values.out as string, dialect: d, ...(o.format ? { format: o.format } : {}) })
      out(r, () => `wrote ${r.out}: ${r.revisions} revision(s), ${r.bytes} bytes (${r.module === 'esm' ? 'ES module' : 'CommonJS'}, ${d}); use it as migrate({ migrations })`)
      return OK
    }
    case 'wait': {
      const timeout = number(values.timeout, 'timeout')
      const r = await withMigrator({ mode: 'wait', ...(timeout !== undefined ? { waitTimeout: timeout } : {}), ...phaseOf(values), ...deployOptions(values) }, (m) => m.run())
      out(r, () => `at ${r.current ?? 'an empty history'}`)
      return OK
    }
  }
  throw new Usage(`Unknown command "${command}".`)
}

/** --contract and --contract-blocks; absent, the config file's phase and contractBlocks (if any) hold. */
function phaseOf(values: Parsed['values']): Partial<MigrateOptions> {
  if (values.contract && values['contract-blocks']) throw new Usage('--contract applies every pending revision; --contract-blocks is for a run without it. Pass one of them.')
  return { ...(values.contract ? { phase: 'contract' as const } : {}), ...(values['contract-blocks'] ? { contractBlocks: true } : {}) }
}

/** `check`: everything that can be known without changing the database the caller points at. */
async function check(o: MigrateOptions, values: Parsed['values'], json: boolean): Promise<number> {
  const report: { revisions?: number; pending?: string[]; problems: string[]; roundTrip?: string[]; lint?: LintReport | { skipped: string } } = { problems: [] }
  if (values['round-trip'] && !o.url) throw new Usage('check --round-trip needs --url: a scratch database is created next to it and dropped afterwards.', 'check')
  if (o.url) {
    const s = await createMigrator(o).status()
    report.revisions = s.revisions.filter((x) => x.source).length
    report.pending = s.pending
    for (const x of s.revisions) {
      if (x.checksumMismatch) report.problems.push(`CHECKSUM_MISMATCH: ${x.source} was edited after it was applied`)
      if (x.outOfOrder) report.problems.push(`OUT_OF_ORDER: ${x.source} is pending but sorts before ${s.current}`)
      if (x.state === 'running') report.problems.push(`DIRTY: ${x.id} was interrupted; resolve it`)
    }
  } else {
    report.revisions = (await offlineRevisions(o, values.dialect as string | undefined)).length
  }
  if (values['round-trip']) report.roundTrip = (await withScratchDatabase(o.url!, (url) => roundTrip({ ...o, url }))).checked
  report.lint = await lintFor(o, values)
  const lintLines = !report.lint
    ? []
    : 'skipped' in report.lint
      ? [yellow(`unsafe-DDL lint skipped: ${report.lint.skipped}`)]
      : [
          ...report.lint.findings.map((f) => findingText(f, values['warn-only'] ? yellow : red)),
          `unsafe-DDL lint (PostgreSQL ${report.lint.serverVersion}): ${report.lint.statements} statement(s), ${report.lint.findings.length} finding(s)${report.lint.findings.length && values['warn-only'] ? ' (--warn-only)' : ''}`,
        ]
  console.log(
    json
      ? JSON.stringify(report, null, 2)
      : [
          `${report.revisions ?? 0} revision(s) parsed`,
          ...(report.pending ? [`${report.pending.length} pending${report.pending.length ? `: ${report.pending.join(', ')}` : ''}`] : []),
          ...(report.roundTrip ? [`round trip (up, down, up) passed for ${report.roundTrip.length} revision(s)`] : []),
          ...lintLines,
          ...report.problems.map(red),
        ].join('\n'),
  )
  if (report.problems.length) return FAILED
  if (report.lint && 'findings' in report.lint && report.lint.findings.length && !values['warn-only']) return FAILED
  return values['exit-code'] && report.pending?.length ? BEHIND : OK
}

/**
 * The unsafe-DDL lint of a PostgreSQL folder (the dialect from --dialect, else --url's, else what the folder says:
 * drizzle-kit's journal, Prisma's lock file; else PostgreSQL's). Without the optional libpg-query package it is
 * skipped with a line saying so, not failed: `check` ran before the linter existed, and a CI without it keeps passing.
 */
async function lintFor(o: MigrateOptions, values: Parsed['values']): Promise<LintReport | { skipped: string } | undefined> {
  const dialect =
    (values.dialect as string | undefined) ??
    (o.url && sqliteFile(o.url) ? 'sqlite' : o.url && /^(mysql|mariadb):\/\//i.test(o.url) ? 'mysql' : o.url ? 'postgres' : (!o.migrations && folderDialect(o.dir ?? './migrations')) || 'postgres')
  if (dialect !== 'postgres') return undefined
  const version = values['server-version'] as string | undefined
  try {
    return await lint({
      ...(o.migrations ? { migrations: o.migrations } : { dir: o.dir ?? './migrations' }),
      ...(o.format ? { format: o.format } : {}),
      ...(version !== undefined ? { serverVersion: version } : o.url ? { url: o.url } : {}),
    })
  } catch (e) {
    if (isMigrationError(e, 'DRIVER_MISSING')) return { skipped: 'the libpg-query package is not installed (npm install --save-dev libpg-query)' }
    throw e
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    console.error(e)
    process.exitCode = FAILED
  },
)
