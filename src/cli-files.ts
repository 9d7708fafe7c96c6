import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MigrationError } from './errors.js'

const ID = /^(\d+)[_-]/

const sqlTemplate = (name: string) => `-- ${name}
-- migrate:up


-- migrate:down

`

const jsTemplate = (name: string) => `// ${name}
/** @param {import('boot-migrate').MigrationContext} ctx */
export async function up({ sql, query, exec }) {}

/** @param {import('boot-migrate').MigrationContext} ctx */
export async function down({ sql, query, exec }) {}
`

const timestamp = (d = new Date()) => d.toISOString().replace(/\D/g, '').slice(0, 14)

/** The next id in the folder's style: timestamps stay timestamps, sequences count up with their width. */
export function nextId(existing: string[]): string {
  const ids = existing.map((f) => ID.exec(f)?.[1]).filter((x): x is string => !!x)
  if (!ids.length) return '0001'
  if (ids.every((id) => id.length >= 12)) {
    const last = ids.reduce((a, b) => (BigInt(a) > BigInt(b) ? a : b))
    const now = timestamp()
    return BigInt(now) > BigInt(last) ? now : String(BigInt(last) + 1n)
  }
  const max = ids.reduce((m, id) => (BigInt(id) > m ? BigInt(id) : m), 0n)
  const width = Math.max(...ids.map((id) => id.length))
  return String(max + 1n).padStart(width, '0')
}

const slug = (name: string) =>
  name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch {
    return []
  }
}

/** A folder of plain SQL revisions (no file has `-- migrate:up`): a new file without markers keeps it one. */
async function plainFolder(dir: string, names: string[]): Promise<boolean> {
  const sql = names.filter((f) => ID.test(f) && /\.sql$/i.test(f))
  if (!sql.length) return false
  for (const f of sql) if (/^\s*--\s*(?:migrate:up|\+goose\s)/im.test(await readFile(join(dir, f), 'utf8').catch(() => '-- migrate:up'))) return false
  return true
}

/** `boot-migrate new <name>`: a revision file with the next id and up/down sections. */
export async function newRevision(dir: string, name: string, js = false): Promise<string> {
  const s = slug(name)
  if (!s) throw new MigrationError('INVALID_OPTIONS', 'A revision needs a name made of letters or digits, e.g. `boot-migrate new add_users`.')
  await mkdir(dir, { recursive: true })
  const names = await list(dir)
  const file = join(dir, `${nextId(names)}_${s}.${js ? 'mjs' : 'sql'}`)
  await writeFile(file, js ? jsTemplate(s) : (await plainFolder(dir, names)) ? `-- ${s}\n\n` : sqlTemplate(s), { flag: 'wx' })
  return file
}

/**
 * `boot-migrate init`: the folder, and no revision: an empty one would be applied by the next `up` and then
 * refuse the filled-in file as edited (CHECKSUM_MISMATCH). Refuses a folder that already has revisions.
 */
export async function init(dir: string): Promise<string> {
  if ((await list(dir)).some((f) => ID.test(f)))
    throw new MigrationError('INVALID_OPTIONS', `${dir} already holds revisions; use \`boot-migrate new <name>\` to add one.`)
  await mkdir(dir, { recursive: true })
  return dir
}
