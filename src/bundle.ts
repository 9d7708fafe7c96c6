import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { dirname, extname, join, relative, resolve, sep } from 'node:path'
import { validate } from './core/validate.js'
import type { Dialect } from './dialects/dialect.js'
import { mysqlRules } from './dialects/mysql.js'
import { postgresRules } from './dialects/postgres.js'
import { sqliteRules } from './dialects/sqlite.js'
import { MigrationError, messageOf } from './errors.js'
import { loadRevisions } from './revisions/load.js'
import type { Revision, Step } from './revisions/revision.js'
import type { BundledRevision, BundledStatement, DialectName, MigrationFormat, RevisionInput } from './types.js'

// `boot-migrate bundle <dir> --out <file>`: the folder's revisions as data in a module, for a service bundled into one
// file (or shipped without its migrations folder). The folder is read exactly as `dir` reads it (our layout or any
// tool's in src/tools/), then each revision is written with what reading it produced: id, name, checksum,
// transaction mode, its statements as split for the dialect, where it came from and, for another tool's folder, who
// it is to that tool (origin). `migrations: bundled` then gives the same revisions as `dir`: the same history rows,
// so a service switches between the two with no history change.
//
// Function revisions (JS/TS modules) are code, not data: the bundle refuses them, naming the file. Such a revision
// stays code: `migrations: [...bundled, { id, name, up }]` (the bundle is an array of `migrations` entries).

const RULES: Record<DialectName, Pick<Dialect, 'name' | 'syntax' | 'nonTransactional'>> = {
  postgres: postgresRules,
  sqlite: sqliteRules,
  mysql: mysqlRules,
}

export interface BundleOptions {
  /** The migrations folder, as `dir`. */
  dir: string
  /** The module to write: `.mjs` (ESM), `.cjs` (CommonJS) or `.js` (as the nearest package.json's "type" says). */
  out: string
  /** Whose SQL rules split the statements: the database the bundle will run on. */
  dialect: DialectName
  format?: MigrationFormat
}

const MODULE_FILE = /^\d+.*\.(?:js|mjs|cjs|ts|mts|cts)$/i

/** Writes the bundle; returns the revisions it holds and the module's size. */
export async function writeBundle(o: BundleOptions): Promise<{ out: string; revisions: number; bytes: number; module: 'esm' | 'cjs' }> {
  const rules = RULES[o.dialect]
  if (!rules) throw new MigrationError('INVALID_OPTIONS', `Unknown dialect "${String(o.dialect)}" (postgres, sqlite or mysql).`)
  const root = resolve(o.dir)
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new MigrationError('INVALID_OPTIONS', `Cannot bundle ${o.dir}: no such folder.`)
  // Refused before anything is imported: a module's import may fail (TypeScript) or do things.
  const fn = readdirSync(root).filter((f) => MODULE_FILE.test(f) && !/\.d\.[cm]?ts$/i.test(f)).sort()[0]
  if (fn) throw functionRevision(join(o.dir, fn))
  const revisions = await loadRevisions({ dir: o.dir, ...(o.format ? { format: o.format } : {}) }, rules.syntax)
  const code = revisions.find((r) => r.up.kind === 'fn' || r.down?.kind === 'fn')
  if (code) throw functionRevision(code.source)
  // Every revision is checked here, as `check` does: a bundle is a build step, and what it holds runs as it is.
  validate(revisions, rules as unknown as Dialect)
  const kind = moduleKind(o.out)
  const text = render(revisions.map((r) => entryOf(r, o.dialect)), kind, o.dir)
  mkdirSync(dirname(resolve(o.out)), { recursive: true })
  writeFileSync(o.out, text)
  return { out: o.out, revisions: revisions.length, bytes: Buffer.byteLength(text), module: kind }
}

const functionRevision = (file: string) =>
  new MigrationError(
    'INVALID_REVISION',
    `${file} is a function revision (a JS/TS module): a bundle holds revisions as data, and a function is code. ` +
      'Keep it in code next to the bundle, migrations: [...bundled, { id, name, up }], or write it as a SQL revision.',
    { file },
  )

/** A revision as a `migrations` entry, with what reading the folder produced (`bundled`). */
export function entryOf(r: Revision, dialect: DialectName): RevisionInput & { up: string; bundled: BundledRevision } {
  const up = r.up as Step & { kind: 'sql' }
  const down = r.down as (Step & { kind: 'sql' }) | null
  const bundled: BundledRevision = {
    v: 1,
    dialect,
    source: r.source.split(sep).join('/'),
    up: statementsOf(up),
    ...(down ? { down: statementsOf(down) } : {}),
    ...(r.origin ? { origin: r.origin } : {}),
    ...(r.notice ? { notice: r.notice } : {}),
    ...(r.statementTimeout ? { statementTimeout: r.statementTimeout } : {}),
  }
  return {
    id: r.id,
    name: r.name,
    up: up.text,
    ...(down ? { down: down.text } : {}),
    transaction: r.transaction,
    ...(r.checksum !== null ? { checksum: r.checksum } : {}),
    // Only when it is not the default: a bundle of a folder without contract revisions stays as it was.
    ...(r.phase === 'contract' ? { phase: 'contract' as const } : {}),
    bundled,
  }
}

/** Each statement as [line, start, end] into the step's text when it is a slice of it (nearly always), else [line, text]. */
function statementsOf(step: Step & { kind: 'sql' }): BundledStatement[] {
  let from = 0
  return step.statements.map((st) => {
    const at = step.text.indexOf(st.text, from)
    if (at === -1) return [st.line, st.text]
    from = at + st.text.length
    return [st.line, at, from]
  })
}

/** ESM for `.mjs`, CommonJS for `.cjs`; `.js` follows the nearest package.json's "type", as Node reads it. */
function moduleKind(out: string): 'esm' | 'cjs' {
  const ext = extname(out).toLowerCase()
  if (ext === '.mjs') return 'esm'
  if (ext === '.cjs') return 'cjs'
  if (ext !== '.js') throw new MigrationError('INVALID_OPTIONS', `--out ${out}: the bundle is a module, .mjs (ESM), .cjs (CommonJS) or .js (as the package.json next to it says).`)
  for (let d = dirname(resolve(out)); ; d = dirname(d)) {
    const pkg = join(d, 'package.json')
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, 'utf8')) as { type?: string }).type === 'module' ? 'esm' : 'cjs'
      } catch (e) {
        throw new MigrationError('INVALID_OPTIONS', `${pkg}: cannot read it to tell whether ${out} is ESM or CommonJS (${messageOf(e)}); use .mjs or .cjs.`, { cause: e })
      }
    }
    if (dirname(d) === d) return 'cjs'
  }
}

function render(entries: Array<RevisionInput & { bundled: BundledRevision }>, kind: 'esm' | 'cjs', dir: string): string {
  const body = `[\n${entries.map((e) => `  ${JSON.stringify(e)}`).join(',\n')}\n]`
  const head =
    `// Written by \`boot-migrate bundle ${relative(process.cwd(), resolve(dir)) || '.'}\`: the folder's ${entries.length} revision(s) as data. Do not edit;\n` +
    '// bundle again when the folder changes. Pass it as migrate({ migrations }): the same ids and checksums as the folder.\n'
  return kind === 'esm'
    ? `${head}/** @type {import('boot-migrate').RevisionInput[]} */\nconst migrations = ${body}\nexport default migrations\n`
    : `${head}/** @type {import('boot-migrate').RevisionInput[]} */\nmodule.exports = ${body}\n`
}
