import { readFileSync } from 'node:fs'
import { distance } from '../distance.js'

/** One command: what it does, the flags of its own, and an example. */
export interface Command {
  args: string
  summary: string
  flags: string[]
  /** Flags it accepts besides the common ones (the keys of OPTIONS). */
  accepts: string[]
  example: string
  /** Reads no database: --url is not needed. */
  offline?: boolean
}

export const COMMANDS: Record<string, Command> = {
  init: {
    args: '',
    summary: 'create the migrations folder (no revision: add one with `new`)',
    flags: [],
    accepts: [],
    example: 'boot-migrate init --dir db/migrations',
    offline: true,
  },
  new: {
    args: '<name> [--js]',
    summary: 'add a revision with the next id (SQL, or a JS module with --js)',
    flags: ['--js               a JS module exporting up(ctx) and down(ctx) instead of a SQL file'],
    accepts: ['js'],
    example: 'boot-migrate new "add users table"',
    offline: true,
  },
  up: {
    args: '[--to ID] [--contract]',
    summary: 'apply pending revisions (same lock and transactions as the library)',
    flags: [
      '--to ID            stop after this revision (default: the newest)',
      '--contract         apply the contract revisions (-- migrate:phase contract) too, in id order: after the rollout',
      '--contract-blocks  without --contract: stop at the first pending contract revision instead of applying later ones',
      '--replicas URLS    comma-separated read replicas (or BOOT_MIGRATE_REPLICAS): done only once each has replayed the target',
      '--replica-timeout MS  how long to wait for them (default 120000; then REPLICA_LAG, exit 1)',
      '--statement-timeout T  how long each statement may run (30s, 5min …; a -- migrate:statement-timeout directive wins)',
    ],
    accepts: ['to', 'contract', 'contract-blocks', 'replicas', 'replica-timeout', 'statement-timeout'],
    example: 'boot-migrate up --url postgres://app@db/app',
  },
  down: {
    args: '[--to ID | --steps N]',
    summary: 'revert the newest revisions (default one); --to base reverts all',
    flags: ['--steps N          revert the N newest applied revisions (default 1)', '--to ID            revert every applied revision newer than ID (base: all of them)'],
    accepts: ['to', 'steps'],
    example: 'boot-migrate down --steps 2',
  },
  status: {
    args: '[--exit-code]',
    summary: 'every revision: applied or pending, when, how long, by whom',
    flags: ['--exit-code        exit 3 when revisions are pending or one is dirty (for CI); default: exit 0 whatever the state'],
    accepts: ['exit-code'],
    example: 'boot-migrate status --exit-code || echo "the database is behind"',
  },
  history: { args: '', summary: 'applied revisions, newest first', flags: [], accepts: [], example: 'boot-migrate history --json' },
  current: { args: '', summary: 'the newest applied revision', flags: [], accepts: [], example: 'boot-migrate current' },
  heads: { args: '', summary: 'the newest revision this code ships (reads no database)', flags: [], accepts: ['dialect'], example: 'boot-migrate heads', offline: true },
  check: {
    args: '[--round-trip] [--exit-code] [--warn-only]',
    summary: 'CI: parse every file, ids, checksums and order (against --url if given); lint PostgreSQL DDL',
    flags: [
      '--dialect NAME     postgres (default) or sqlite: the SQL rules to check the files with when no --url is given',
      '--round-trip       up/down/up each revision on a scratch database next to --url',
      '--exit-code        with --url: exit 3 when revisions are pending (problems still exit 1)',
      '--warn-only        report unsafe DDL (PostgreSQL; needs the libpg-query package) but exit 0 for it',
      '--server-version N the PostgreSQL the revisions will run on, for the lint (default: --url\'s, else 17)',
    ],
    accepts: ['dialect', 'round-trip', 'exit-code', 'warn-only', 'server-version'],
    example: 'boot-migrate check --dialect sqlite --dir migrations',
    offline: true,
  },
  stamp: {
    args: '<ID>',
    summary: 'record revisions up to ID as applied without running them',
    flags: [],
    accepts: [],
    example: 'boot-migrate stamp 0003',
  },
  resolve: {
    args: '<ID> --resume|--applied|--rolled-back',
    summary: 'clear a dirty revision: resume it, or record what a human fixed by hand',
    flags: [
      '--resume           check its applied statements are unchanged in the file, then run the rest',
      '                   (a function revision stopped in ctx.batch: run it again, ctx.batch goes on with the rows left)',
      '--applied          its effects are all there: record it as applied',
      '--rolled-back      none of its effects are left: forget it, so up runs it again',
    ],
    accepts: ['resume', 'applied', 'rolled-back'],
    example: 'boot-migrate resolve 0004 --applied',
  },
  sql: {
    args: '[--from ID] [--to ID]',
    summary: 'print the SQL up would run, history writes included (--from: offline)',
    flags: [
      '--from ID          the revisions after ID (base: all), without reading the database',
      '--to ID            stop after this revision',
      '--contract         include the contract revisions, as up --contract runs them',
      '--contract-blocks  without --contract: stop at the first contract revision, as up --contract-blocks does',
      '--statement-timeout T  print each revision under this statement timeout, as up --statement-timeout runs it',
    ],
    accepts: ['from', 'to', 'contract', 'contract-blocks', 'statement-timeout'],
    example: 'boot-migrate sql --from base > migrate.sql',
  },
  bundle: {
    args: '<dir> --out FILE [--dialect NAME]',
    summary: "write the folder's revisions as a module: migrate({ migrations }) then needs no folder",
    flags: [
      '--out FILE         the module: .mjs (ESM), .cjs (CommonJS), or .js (as the nearest package.json "type" says)',
      '--dialect NAME     postgres (default), sqlite or mysql: the database the bundle runs on (its SQL rules split the statements); default from --url',
    ],
    accepts: ['out', 'dialect'],
    example: 'boot-migrate bundle ./drizzle --out src/migrations.bundle.mjs',
    offline: true,
  },
  wait: {
    args: '[--timeout MS]',
    summary: 'block until another process has brought the database to the target',
    flags: [
      '--timeout MS       give up after MS milliseconds (default 300000)',
      '--contract-blocks  wait only for the revisions before the first contract revision, as up --contract-blocks applies them',
      '--replicas URLS    comma-separated read replicas (or BOOT_MIGRATE_REPLICAS): then wait until each has replayed the target',
      '--replica-timeout MS  how long to wait for them (default 120000; then REPLICA_LAG, exit 1)',
    ],
    accepts: ['timeout', 'contract-blocks', 'replicas', 'replica-timeout'],
    example: 'boot-migrate wait --timeout 120000   # in an init container',
  },
}

const COMMON = `Options (flags > environment > config file):
  --url URL             database URL                      $DATABASE_URL
  --dir DIR             folder of revisions               $BOOT_MIGRATE_DIR (default ./migrations)
  --table NAME          history table                     $BOOT_MIGRATE_TABLE (default boot_migrate_history)
  --schema NAME         schema of the history table       $BOOT_MIGRATE_SCHEMA (default public)
  --config FILE         JSON file with any of the options above and the library's (default ./boot-migrate.json if present)
  --connect-timeout MS  how long to retry a database that does not answer (default 10000 in the CLI)
  --pooler transaction  the URL goes through a transaction pooler (PgBouncer, Supabase :6543, Neon -pooler)
                        $BOOT_MIGRATE_POOLER: lock and revisions in one transaction; "none" silences the warning
  --json                data as one JSON document on stdout; logs and progress as JSON lines on stderr
  -h, --help            help for a command
  -v, --version         the version of boot-migrate`

const EXIT = `Exit codes: 0 success; 1 a migration error or a failed check (the message and its code say which);
2 bad usage; 3 with --exit-code (status, check): revisions are pending (or, for status, one is dirty).`

export function help(command?: string): string {
  const c = command ? COMMANDS[command] : undefined
  if (c)
    return `boot-migrate ${command}: ${c.summary}

Usage: boot-migrate ${command}${c.args ? ` ${c.args}` : ''} [options]
${c.flags.length ? `\n${c.flags.map((f) => `  ${f}`).join('\n')}\n` : ''}
Example:
  ${c.example}

${COMMON}

${EXIT}`
  const width = Math.max(...Object.entries(COMMANDS).map(([n, x]) => `${n} ${x.args}`.length))
  return `boot-migrate: database migrations for the boot path

Usage: boot-migrate <command> [options]     boot-migrate <command> --help for its flags and an example

Commands:
${Object.entries(COMMANDS)
  .map(([n, x]) => `  ${`${n} ${x.args}`.padEnd(width)}  ${x.summary}`)
  .join('\n')}

${COMMON}

${EXIT}`
}

export function version(): string {
  // dist/cli.js and its chunks sit next to package.json's folder, as src/ does.
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

/** The known command nearest to a mistyped one, within two edits (or a prefix). */
export function didYouMean(word: string): string | undefined {
  const w = word.toLowerCase()
  let best: { name: string; d: number } | undefined
  for (const name of Object.keys(COMMANDS)) {
    const d = name.startsWith(w) && w.length >= 2 ? 1 : distance(w, name)
    if (d <= Math.min(2, Math.max(1, Math.floor(name.length / 2))) && (!best || d < best.d)) best = { name, d }
  }
  return best?.name
}

