import { readdirSync, readFileSync, statSync, type Dirent } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MigrationError, messageOf } from '../errors.js'
import type { MigrationFn, RevisionInput } from '../types.js'
import { checksumOf } from './checksum.js'
import { isDrizzleFolder, loadDrizzleFolder } from './drizzle.js'
import { compareIds } from './ids.js'
import type { Revision, Step } from './revision.js'
import { splitStatements, type SqlSyntax } from './split.js'
import { parseSqlRevision } from './sql-file.js'

const fileName = /^(\d+)(?:[_-](.*))?\.(sql|js|mjs|cjs|ts|mts|cts)$/

// Parsed revisions are kept for the process: a warm serverless call or a second migrator need not
// read and parse every file again. A folder is parsed again when a file in it (or one level below)
// changes name, size or mtime; an array when its length changes.
const arrays = new WeakMap<RevisionInput[], { length: number; syntax: SqlSyntax; revisions: Revision[] }>()
const folders = new Map<string, { signature: string; syntax: SqlSyntax; revisions: Revision[] }>()

function signatureOf(root: string): string | undefined {
  const parts: string[] = []
  const visit = (dir: string, depth: number) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name)
      if (e.isFile()) {
        const st = statSync(path)
        parts.push(`${path}\0${st.size}\0${st.mtimeMs}`)
      } else if (e.isDirectory() && depth === 0) visit(path, 1)
    }
  }
  try {
    visit(root, 0)
  } catch {
    return undefined
  }
  return parts.join('\n')
}

/** Reads revisions from a folder or an array, sorted by id; rejects bad input before anything runs. */
export async function loadRevisions(source: { dir?: string; migrations?: RevisionInput[] }, syntax: SqlSyntax): Promise<Revision[]> {
  if (source.migrations) {
    const hit = arrays.get(source.migrations)
    if (hit && hit.length === source.migrations.length && hit.syntax === syntax) return hit.revisions
    const revisions = sorted(source.migrations.map((m, i) => fromInput(m, `migrations[${i}]`, syntax)))
    arrays.set(source.migrations, { length: source.migrations.length, syntax, revisions })
    return revisions
  }
  const root = resolve(source.dir!)
  const signature = signatureOf(root)
  const hit = folders.get(root)
  if (hit && signature !== undefined && hit.signature === signature && hit.syntax === syntax) return hit.revisions
  const revisions = sorted(await fromDir(source.dir!, syntax))
  if (signature !== undefined) folders.set(root, { signature, syntax, revisions })
  return revisions
}

function sorted(list: Revision[]): Revision[] {
  list.sort((a, b) => compareIds(a.id, b.id))
  for (let i = 1; i < list.length; i++) {
    const [a, b] = [list[i - 1]!, list[i]!]
    if (compareIds(a.id, b.id) === 0)
      throw new MigrationError('INVALID_REVISION', `Duplicate revision id ${b.id}: ${a.source} and ${b.source}. Give one of them a new id.`, {
        revision: b.id,
        file: b.source,
      })
  }
  return list
}

async function fromDir(dir: string, syntax: SqlSyntax): Promise<Revision[]> {
  const root = resolve(dir)
  let all: Dirent[]
  try {
    // Synchronous on purpose: a boot reads a few dozen small files, and a thread-pool round trip per file
    // costs more than the read itself (50 files: ~15 ms async in sequence, under 1 ms sync).
    all = readdirSync(root, { withFileTypes: true })
  } catch (e) {
    throw new MigrationError('INVALID_OPTIONS', `Cannot read the migrations folder ${root}: ${messageOf(e)}`, { cause: e })
  }
  if (isDrizzleFolder(root, all)) return loadDrizzleFolder(dir, all, syntax)
  const entries = all.filter((e) => e.isFile()).map((e) => e.name)
  const out: Revision[] = []
  for (const name of entries.sort()) {
    if (name.startsWith('.') || /\.d\.[cm]?ts$|\.map$/.test(name)) continue
    const m = fileName.exec(name)
    const file = join(dir, name)
    if (!m) {
      if (name.endsWith('.sql'))
        throw new MigrationError('INVALID_REVISION', `${file}: a revision file is named <digits>_<name>.sql, e.g. 0001_create_users.sql`, { file })
      continue
    }
    const [, id, rest, ext] = m as unknown as [string, string, string | undefined, string]
    const revName = rest ?? id
    if (ext === 'sql') {
      const parsed = parseSqlRevision(readFileSync(join(root, name), 'utf8'), file, syntax)
      out.push({
        id,
        name: revName,
        source: file,
        checksum: checksumOf(parsed.up.text, parsed.transaction),
        transaction: parsed.transaction,
        up: parsed.up,
        down: parsed.down,
      })
    } else {
      out.push(fromInput({ ...(await importModule(join(root, name), file)), id, name: revName }, file, syntax))
    }
  }
  return out
}

async function importModule(path: string, file: string): Promise<RevisionInput> {
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>
  } catch (e) {
    const hint = /\.[cm]?ts$/.test(path) ? ' (a .ts revision needs a TypeScript-aware runtime such as tsx, or compile it to .js)' : ''
    throw new MigrationError('INVALID_REVISION', `${file}: cannot import: ${messageOf(e)}${hint}`, { file, cause: e })
  }
  // `export default { up, down }` and CommonJS `module.exports` land on `default`.
  const def = mod.default
  const m = (typeof mod.up !== 'undefined' ? mod : def && typeof def === 'object' ? def : mod) as Record<string, unknown>
  return { id: '', up: m.up as MigrationFn, down: m.down as MigrationFn | undefined, transaction: m.transaction as boolean | undefined, checksum: m.checksum as string | undefined }
}

function fromInput(input: RevisionInput, source: string, syntax: SqlSyntax): Revision {
  const bad = (why: string): never => {
    throw new MigrationError('INVALID_REVISION', `${source}: ${why}`, { file: source, revision: input?.id })
  }
  if (!input || typeof input !== 'object') bad('a revision must be an object { id, up, down?, transaction? }')
  if (typeof input.id !== 'string' || !input.id.trim()) bad('missing "id" (a sortable string such as "0001")')
  if (typeof input.up !== 'string' && typeof input.up !== 'function') bad('missing "up": SQL text or a function (ctx) => …')
  if (input.down !== undefined && typeof input.down !== 'string' && typeof input.down !== 'function') bad('"down" must be SQL text or a function')
  if (input.transaction !== undefined && typeof input.transaction !== 'boolean') bad('"transaction" must be true or false')
  if (input.checksum !== undefined && typeof input.checksum !== 'string') bad('"checksum" must be a string')
  const transaction = input.transaction !== false
  const step = (x: string | MigrationFn): Step =>
    typeof x === 'string' ? { kind: 'sql', text: x.trim(), statements: splitStatements(x, syntax) } : { kind: 'fn', fn: x }
  return {
    id: input.id,
    name: input.name ?? input.id,
    source,
    checksum: input.checksum ?? (typeof input.up === 'string' ? checksumOf(input.up, transaction) : null),
    transaction,
    up: step(input.up),
    down: input.down === undefined ? null : step(input.down),
  }
}
