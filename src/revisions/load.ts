import { realpathSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MigrationError, messageOf } from '../errors.js'
import type { BundledRevision, MigrationFn, RevisionInput } from '../types.js'
import { checksumOf } from './checksum.js'
import { listFolder, readingOnce, readText, type Entry } from './files.js'
import { compareIds, idKey } from './ids.js'
import { sqlStep, type Revision, type Step } from './revision.js'
import type { SqlSyntax, Statement } from './split.js'
import { parseSqlRevision } from './sql-file.js'
import { DURATION_FORMS, parseDuration } from './duration.js'
import { toolFor } from '../tools/index.js'

// Extensions are matched whatever their case: `0002_b.SQL` is a revision, not a file to skip.
const fileName = /^(\d+)(?:[_-](.*))?\.(sql|js|mjs|cjs|ts|mts|cts)$/i
/** `<id>_<name>.psql`, `.pgsql`, `.mysql` …: meant as a revision, but only `.sql` is read as SQL. */
const sqlLike = /^\d+(?:[_-].*)?\.[a-z0-9]*sql$/i
/** golang-migrate's file names: such files are that tool's, never part of a plain folder. */
const golangMigrate = /^\d+_.*\.(?:up|down)\.sql$/i
const upDirective = /^\s*--\s*migrate:up\b/im

// Parsed revisions are kept for the process: a warm serverless call or a second migrator need not
// read and parse every file again. A folder is parsed again when a file in it (or one level below)
// changes name, size or mtime, or a symbolic link in it comes to point elsewhere; an array when an entry or one of
// its fields is replaced (compared by identity, so the SQL is not hashed again).
const arrays = new WeakMap<RevisionInput[], { fields: unknown[]; syntax: SqlSyntax; revisions: Revision[] }>()
const fieldsOf = (list: RevisionInput[]): unknown[] =>
  list.flatMap((m) => (m && typeof m === 'object' ? [m, m.id, m.name, m.up, m.down, m.transaction, m.checksum, m.phase, m.statementTimeout] : [m]))
const folders = new Map<string, { signature: string; syntax: SqlSyntax; format: string | undefined; revisions: Revision[] }>()

function signatureOf(root: string): string | undefined {
  const parts: string[] = []
  const visit = (dir: string, depth: number) => {
    for (const e of listFolder(dir)) {
      const path = join(dir, e.name)
      // A ConfigMap update swaps `..data` and leaves the links themselves as they were: where they resolve to changes.
      const real = e.link === null ? '' : `\0${e.dangling ? 'dangling' : realpathSync(path)}`
      if (e.isFile()) {
        const st = statSync(path)
        parts.push(`${path}\0${st.size}\0${st.mtimeMs}${real}`)
      } else if (e.isDirectory() && depth === 0) {
        parts.push(`${path}/${real}`)
        visit(path, 1)
      } else if (e.dangling) parts.push(`${path}${real}`)
    }
  }
  try {
    // The folder itself may be a link that a deploy retargets (releases/v1 → releases/v2).
    parts.push(realpathSync(root))
    visit(root, 0)
  } catch {
    return undefined
  }
  return parts.join('\n')
}

/** Reads revisions from a folder or an array, sorted by id; rejects bad input before anything runs. */
export async function loadRevisions(source: { dir?: string; migrations?: RevisionInput[]; format?: string }, syntax: SqlSyntax): Promise<Revision[]> {
  if (source.migrations) {
    const hit = arrays.get(source.migrations)
    const fields = fieldsOf(source.migrations)
    if (hit && hit.syntax === syntax && hit.fields.length === fields.length && hit.fields.every((f, i) => f === fields[i])) return hit.revisions
    const revisions = sorted(source.migrations.map((m, i) => fromInput(m, `migrations[${i}]`, syntax)))
    arrays.set(source.migrations, { fields, syntax, revisions })
    return revisions
  }
  const root = resolve(source.dir!)
  const signature = signatureOf(root)
  const hit = folders.get(root)
  if (hit && signature !== undefined && hit.signature === signature && hit.syntax === syntax && hit.format === source.format) return hit.revisions
  const revisions = sorted(await readingOnce(() => fromDir(source.dir!, syntax, source.format)))
  if (signature !== undefined) folders.set(root, { signature, syntax, format: source.format, revisions })
  return revisions
}

function sorted(list: Revision[]): Revision[] {
  // A folder's revisions mostly come in order already (file names, a journal): one pass says so.
  if (list.some((r, i) => i > 0 && compareIds(list[i - 1]!.id, r.id) > 0)) list.sort((a, b) => compareIds(a.id, b.id))
  // `1_a.sql` and `01_b.sql` are one id: numbers are compared as numbers everywhere, so both cannot exist.
  const seen = new Map<string, Revision>()
  for (const b of list) {
    const a = seen.get(idKey(b.id))
    if (a)
      throw new MigrationError(
        'INVALID_REVISION',
        `Duplicate revision id ${b.id}${a.id === b.id ? '' : ` (the same number as ${a.id})`}: ${a.source} and ${b.source}. Give one of them a new id.`,
        { revision: b.id, file: b.source },
      )
    seen.set(idKey(b.id), b)
  }
  return list
}

async function fromDir(dir: string, syntax: SqlSyntax, format: string | undefined): Promise<Revision[]> {
  const root = resolve(dir)
  let all: Entry[]
  try {
    // Synchronous on purpose: a boot reads a few dozen small files, and a thread-pool round trip per file
    // costs more than the read itself (50 files: ~15 ms async in sequence, under 1 ms sync).
    all = listFolder(root)
  } catch (e) {
    throw new MigrationError('INVALID_OPTIONS', `Cannot read the migrations folder ${root}: ${messageOf(e)}`, { cause: e })
  }
  // Another tool's layout (src/tools/index.ts says in which order they are tried), else ours.
  const tool = toolFor(root, all, format)
  return tool ? tool.load(dir, all, syntax) : readOwnFolder(dir, all, syntax)
}

/**
 * boot-migrate's own layout: `<id>_<name>.sql` with `-- migrate:up` (dbmate's too) and JS/TS modules. `all` is the
 * folder's listing (listFolder); a tool whose files are ours (dbmate) reads them with this and adds their origin.
 */
export async function readOwnFolder(dir: string, all: Entry[], syntax: SqlSyntax): Promise<Revision[]> {
  const root = resolve(dir)
  const out: Revision[] = []
  const plain = plainFolder(root, dir, all)
  for (const entry of all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const name = entry.name
    if (/\.d\.[cm]?ts$|\.map$/i.test(name)) continue
    const m = fileName.exec(name)
    const file = join(dir, name)
    const meant = !!m || /\.sql$/i.test(name) || sqlLike.test(name)
    if (entry.dangling) {
      if (meant)
        throw new MigrationError(
          'INVALID_REVISION',
          `${file}: a symbolic link to ${entry.link ?? 'a missing file'}, which does not exist. Restore its target or remove the link.`,
          { file },
        )
      continue
    }
    if (!entry.isFile()) {
      if (meant && entry.isDirectory())
        throw new MigrationError('INVALID_REVISION', `${file}: a folder named like a revision file. A revision is a file; rename or move the folder.`, { file })
      continue
    }
    if (!m) {
      if (/\.sql$/i.test(name))
        throw new MigrationError('INVALID_REVISION', `${file}: a revision file is named <digits>_<name>.sql, e.g. 0001_create_users.sql`, { file })
      if (sqlLike.test(name))
        throw new MigrationError('INVALID_REVISION', `${file}: only .sql files are read as SQL revisions; rename it to ${name.replace(/\.[^.]*$/, '.sql')}.`, { file })
      continue
    }
    const [, id, rest, ext] = m as unknown as [string, string, string | undefined, string]
    const revName = rest ?? id
    if (ext.toLowerCase() === 'sql') {
      const { text } = readText(join(root, name), file)
      // A folder of plain SQL files (no file has markers): each whole file is the up step, in one transaction.
      const parsed = plain ? parseSqlRevision(`-- migrate:up\n${text}`, file, syntax, -1) : parseSqlRevision(text, file, syntax)
      out.push({
        id,
        name: revName,
        source: file,
        checksum: checksumOf(parsed.up.text, parsed.transaction),
        transaction: parsed.transaction,
        up: parsed.up,
        down: parsed.down,
        phase: parsed.phase,
        ...(parsed.statementTimeout ? { statementTimeout: parsed.statementTimeout } : {}),
      })
    } else {
      if (ext !== ext.toLowerCase())
        throw new MigrationError('INVALID_REVISION', `${file}: Node.js imports a module only by its lower-case extension; rename it to ${name.slice(0, -ext.length)}${ext.toLowerCase()}.`, { file })
      refuseOtherTools(readText(join(root, name), file).text, file)
      out.push(fromInput({ ...(await importModule(join(root, name), file)), id, name: revName }, file, syntax))
    }
  }
  return out
}

/**
 * Whether the folder's SQL revisions are plain files (no file has a `-- migrate:up` line, a goose annotation or a
 * golang-migrate name): each is then read as up-only. A folder mixing marked and unmarked files is refused, naming the
 * unmarked ones.
 */
function plainFolder(root: string, dir: string, all: Entry[]): boolean {
  const marked: string[] = []
  const unmarked: string[] = []
  for (const e of all) {
    const m = fileName.exec(e.name)
    if (!m || m[3]!.toLowerCase() !== 'sql' || !e.isFile() || e.dangling) continue
    const file = join(dir, e.name)
    const { text } = readText(join(root, e.name), file)
    // goose's and golang-migrate's files get their own messages from the parser below.
    if (golangMigrate.test(e.name) || /^\s*--\s*\+goose\s/im.test(text)) return false
    ;(upDirective.test(text) ? marked : unmarked).push(file)
  }
  if (!marked.length) return unmarked.length > 0
  if (unmarked.length)
    throw new MigrationError(
      'INVALID_REVISION',
      `${unmarked.sort().join(', ')}: no "-- migrate:up" line, while other files in this folder have one (${marked.sort()[0]}${marked.length > 1 ? ' …' : ''}). ` +
        'Add "-- migrate:up" at the top of each, or take the markers out of every file: a folder where no file has markers is read as plain SQL files, each file the up step.',
      { file: unmarked[0] },
    )
  return false
}

/**
 * Other tools' JS/TS migrations (knex, Kysely, node-pg-migrate, TypeORM) are told apart from ours by their text, before
 * anything is imported: what `up` takes (`knex`, `pgm`, `queryRunner`, a `Kysely` db; ours takes `ctx`) and what the
 * file imports.
 */
const OTHER_TOOLS: Array<{ tool: string; table: string; how: string; test: (text: string, param: string | undefined) => boolean }> = [
  {
    tool: 'TypeORM',
    table: 'migrations',
    how: 'a class implementing MigrationInterface whose up(queryRunner) runs queryRunner.query(…)',
    test: (t, p) => /\bimplements\s+MigrationInterface\b/.test(t) || p === 'queryRunner' || (p !== 'ctx' && imports(t, 'typeorm')),
  },
  {
    tool: 'node-pg-migrate',
    table: 'pgmigrations',
    how: 'up(pgm) calls pgm.createTable(…) / pgm.sql(…)',
    test: (t, p) => p === 'pgm' || (p !== 'ctx' && imports(t, 'node-pg-migrate')),
  },
  {
    tool: 'Kysely',
    table: 'kysely_migration',
    how: 'up(db: Kysely<any>) builds its statements with db.schema',
    test: (t, p) => /\bup\s*\(\s*\w+\s*:\s*Kysely\b/.test(t) || (p !== 'ctx' && imports(t, 'kysely')),
  },
  {
    tool: 'knex',
    table: 'knex_migrations',
    how: 'up(knex) builds its statements with knex.schema',
    test: (t, p) => p === 'knex' || /\bup\s*\(\s*\w+\s*:\s*Knex\b/.test(t) || (p !== 'ctx' && imports(t, 'knex')),
  },
]
const imports = (text: string, pkg: string) => new RegExp(`(?:from\\s*|require\\s*\\(\\s*|import\\s*\\(\\s*)['"]${pkg}(?:/[^'"]*)?['"]`).test(text)
/**
 * The name of the first parameter `up` takes (`up(ctx)`, `exports.up = function (knex)`, `export const up = async (pgm) =>`,
 * `up: db =>`): `ctx` wherever one `up` takes it, else the first found (a comment saying "set up the table" finds "the").
 */
function upParam(text: string): string | undefined {
  const names = [...text.matchAll(/\bup\s*(?:[=:]\s*)?(?:async\b\s*)?(?:function\b\s*\*?\s*)?\(?\s*([A-Za-z_$][\w$]*)/g)].map((m) => m[1]!)
  return names.includes('ctx') ? 'ctx' : (names.find((n) => ['knex', 'pgm', 'queryRunner'].includes(n)) ?? names[0])
}

function refuseOtherTools(text: string, file: string) {
  const param = upParam(text)
  const other = OTHER_TOOLS.find((o) => o.test(text, param))
  if (!other) return
  throw new MigrationError(
    'INVALID_REVISION',
    `${file} is a ${other.tool} migration (${other.how}); boot-migrate runs SQL files and its own up(ctx) modules. ` +
      `Convert it to a SQL revision (<id>_<name>.sql, the SQL it runs after "-- migrate:up") or an up(ctx) module (ctx.sql / ctx.query), ` +
      `or, on a database ${other.tool} already migrated (its history is the ${other.table} table), run \`boot-migrate stamp <id>\` to record the revisions up to <id> as applied without running them.`,
    { file },
  )
}

async function importModule(path: string, file: string): Promise<RevisionInput> {
  let mod: Record<string, unknown>
  try {
    // A file on disk at run time, never part of a bundle: webpack (and ncc) would otherwise replace this import.
    mod = (await import(/* webpackIgnore: true */ pathToFileURL(path).href)) as Record<string, unknown>
  } catch (e) {
    const hint = /\.[cm]?ts$/.test(path) ? ' (a .ts revision needs a TypeScript-aware runtime such as tsx, or compile it to .js)' : ''
    throw new MigrationError('INVALID_REVISION', `${file}: cannot import: ${messageOf(e)}${hint}`, { file, cause: e })
  }
  // `export default { up, down }` and CommonJS `module.exports` land on `default`.
  const def = mod.default
  const m = (typeof mod.up !== 'undefined' ? mod : def && typeof def === 'object' ? def : mod) as Record<string, unknown>
  return {
    id: '',
    up: m.up as MigrationFn,
    down: m.down as MigrationFn | undefined,
    transaction: m.transaction as boolean | undefined,
    checksum: m.checksum as string | undefined,
    phase: m.phase as RevisionInput['phase'],
    ...(m.statementTimeout === undefined ? {} : { statementTimeout: m.statementTimeout as string | number }),
  }
}

function fromInput(input: RevisionInput, source: string, syntax: SqlSyntax): Revision {
  if (input && typeof input === 'object' && input.bundled !== undefined) return fromBundle(input, source, syntax)
  const bad = (why: string): never => {
    throw new MigrationError('INVALID_REVISION', `${source}: ${why}`, { file: source, revision: input?.id })
  }
  if (!input || typeof input !== 'object') bad('a revision must be an object { id, up, down?, transaction? }')
  if (typeof input.id !== 'string' || !input.id.trim()) bad('missing "id" (a sortable string such as "0001")')
  if (typeof input.up !== 'string' && typeof input.up !== 'function') bad('missing "up": SQL text or a function (ctx) => …')
  if (input.down !== undefined && typeof input.down !== 'string' && typeof input.down !== 'function') bad('"down" must be SQL text or a function')
  if (input.transaction !== undefined && typeof input.transaction !== 'boolean') bad('"transaction" must be true or false')
  if (input.checksum !== undefined && typeof input.checksum !== 'string') bad('"checksum" must be a string')
  if (input.phase !== undefined && input.phase !== 'expand' && input.phase !== 'contract') bad(`"phase" must be 'expand' or 'contract', got ${JSON.stringify(input.phase)}`)
  const timeout = input.statementTimeout === undefined ? undefined : timeoutOf(input.statementTimeout)
  if (input.statementTimeout !== undefined && timeout === undefined) bad(`"statementTimeout" must be ${DURATION_FORMS}, got ${JSON.stringify(input.statementTimeout) ?? typeof input.statementTimeout}`)
  const transaction = input.transaction !== false
  const step = (x: string | MigrationFn): Step =>
    typeof x === 'string' ? sqlStep(x.trim(), x, syntax) : { kind: 'fn', fn: x }
  return {
    id: input.id,
    name: input.name ?? input.id,
    source,
    checksum: input.checksum ?? (typeof input.up === 'string' ? checksumOf(input.up, transaction) : null),
    transaction,
    up: step(input.up),
    down: input.down === undefined ? null : step(input.down),
    phase: input.phase ?? 'expand',
    ...(timeout === undefined ? {} : { statementTimeout: { ms: timeout } }),
  }
}

/** `statementTimeout` of a module or entry: ms, or a duration string as the directive takes. */
const timeoutOf = (v: unknown): number | undefined =>
  typeof v === 'string' ? parseDuration(v) : typeof v === 'number' && Number.isFinite(v) ? parseDuration(String(v)) : undefined

/** The SQL rules each dialect splits with, to tell whether a bundle was made for this database. */
const syntaxName = (s: SqlSyntax) => (s.compoundBodies ? 'mysql' : s.dollarQuotes ? 'postgres' : 'sqlite')

/** A revision written by `boot-migrate bundle` (src/bundle.ts): taken as the folder read it, with no parsing. */
function fromBundle(input: RevisionInput, at: string, syntax: SqlSyntax): Revision {
  const b = input.bundled!
  const bad = (why: string): never => {
    throw new MigrationError('INVALID_REVISION', `${at}: ${why}`, { file: at, revision: input.id })
  }
  if (!b || typeof b !== 'object' || b.v !== 1 || !Array.isArray(b.up) || typeof input.up !== 'string' || typeof input.id !== 'string')
    bad('not an entry that boot-migrate bundle writes (bundle the folder again with this version)')
  if (b.dialect !== syntaxName(syntax))
    throw new MigrationError(
      'INVALID_OPTIONS',
      `${b.source}: bundled with ${b.dialect}'s SQL rules (boot-migrate bundle --dialect ${b.dialect}), but this database is ${syntaxName(syntax)}. ` +
        `Bundle the folder again with --dialect ${syntaxName(syntax)}.`,
      { file: b.source, revision: input.id },
    )
  const step = (text: string, list: BundledRevision['up']): Step => {
    let statements: Statement[] | undefined
    return {
      kind: 'sql',
      text,
      get statements() {
        return (statements ??= list.map((s) => ({ line: s[0], text: s.length === 3 ? text.slice(s[1], s[2]) : s[1] })))
      },
    }
  }
  return {
    id: input.id,
    name: input.name ?? input.id,
    source: b.source,
    checksum: input.checksum ?? null,
    transaction: input.transaction !== false,
    up: step(input.up as string, b.up),
    down: typeof input.down === 'string' && b.down ? step(input.down, b.down) : null,
    ...(input.phase === 'contract' ? { phase: 'contract' as const } : {}),
    ...(b.origin ? { origin: b.origin } : {}),
    ...(b.notice ? { notice: b.notice } : {}),
    ...(b.statementTimeout ? { statementTimeout: b.statementTimeout } : {}),
  }
}
