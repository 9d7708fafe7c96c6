import { spawn, spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { root } from './helpers.js'

export type DrizzleDialect = 'postgresql' | 'sqlite' | 'mysql'

/** About a second of SQLite work: a recursive count. */
export const SQLITE_SLOW = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c;'

const kit = (bin: string, args: string[], cwd: string) => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', bin, 'bin.cjs'), ...args], { cwd, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`drizzle-kit ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`)
}

/** Schemas in the test tree, one per generation: a create, a column change (a table rebuild on SQLite), an index. */
const schemas: Record<DrizzleDialect, string[]> = {
  mysql: [
    `import { mysqlTable, int, varchar } from 'drizzle-orm/mysql-core'
export const users = mysqlTable('users', { id: int('id').autoincrement().primaryKey(), name: varchar('name', { length: 255 }) })
export const posts = mysqlTable('posts', { id: int('id').autoincrement().primaryKey(), userId: int('user_id'), title: varchar('title', { length: 255 }) })`,
    `import { mysqlTable, int, varchar } from 'drizzle-orm/mysql-core'
export const users = mysqlTable('users', { id: int('id').autoincrement().primaryKey(), name: varchar('name', { length: 255 }).notNull().default('') })
export const posts = mysqlTable('posts', { id: int('id').autoincrement().primaryKey(), userId: int('user_id'), title: varchar('title', { length: 255 }) })`,
    `import { mysqlTable, int, varchar, index } from 'drizzle-orm/mysql-core'
export const users = mysqlTable('users', { id: int('id').autoincrement().primaryKey(), name: varchar('name', { length: 255 }).notNull().default('') })
export const posts = mysqlTable('posts', { id: int('id').autoincrement().primaryKey(), userId: int('user_id'), title: varchar('title', { length: 255 }) }, (t) => [index('posts_user_id').on(t.userId)])`,
  ],
  sqlite: [
    `import { sqliteTable, integer, text } from 'drizzle-orm/sqlite-core'
export const users = sqliteTable('users', { id: integer('id').primaryKey(), name: text('name') })
export const posts = sqliteTable('posts', { id: integer('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') })`,
    `import { sqliteTable, integer, text } from 'drizzle-orm/sqlite-core'
export const users = sqliteTable('users', { id: integer('id').primaryKey(), name: text('name').notNull().default('') })
export const posts = sqliteTable('posts', { id: integer('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') })`,
    `import { sqliteTable, integer, text, index } from 'drizzle-orm/sqlite-core'
export const users = sqliteTable('users', { id: integer('id').primaryKey(), name: text('name').notNull().default('') })
export const posts = sqliteTable('posts', { id: integer('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') }, (t) => [index('posts_user_id').on(t.userId)])`,
  ],
  postgresql: [
    `import { pgTable, integer, text, serial } from 'drizzle-orm/pg-core'
export const users = pgTable('users', { id: serial('id').primaryKey(), name: text('name') })
export const posts = pgTable('posts', { id: serial('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') })`,
    `import { pgTable, integer, text, serial } from 'drizzle-orm/pg-core'
export const users = pgTable('users', { id: serial('id').primaryKey(), name: text('name').notNull().default('') })
export const posts = pgTable('posts', { id: serial('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') })`,
    `import { pgTable, integer, text, serial, index } from 'drizzle-orm/pg-core'
export const users = pgTable('users', { id: serial('id').primaryKey(), name: text('name').notNull().default('') })
export const posts = pgTable('posts', { id: serial('id').primaryKey(), userId: integer('user_id').references(() => users.id, { onDelete: 'cascade' }), title: text('title') }, (t) => [index('posts_user_id').on(t.userId)])`,
  ],
}

/**
 * Runs the real drizzle-kit over the schemas above, one `generate` per schema version, and returns
 * the output folder (0.x layout: meta/_journal.json). `count` limits how many versions are generated.
 */
export async function drizzleFolder(dialect: DrizzleDialect, count = schemas[dialect].length, options: { slow?: boolean; spacingMs?: number; custom?: { name: string; sql: string } } = {}): Promise<string> {
  // Inside the repository so that the schema files resolve drizzle-orm from its node_modules.
  await mkdir(join(root, '.tmp'), { recursive: true })
  const work = await mkdtemp(join(root, '.tmp', `drizzle-${dialect}-`))
  for (const schema of schemas[dialect].slice(0, count)) {
    await writeFile(join(work, 'schema.ts'), schema)
    kit('drizzle-kit', ['generate', '--dialect', dialect, '--schema', './schema.ts', '--out', './drizzle'], work)
    // drizzle-kit stamps each entry with Date.now(); distinct, increasing timestamps like real use.
    await new Promise((r) => setTimeout(r, options.spacingMs ?? 5))
  }
  if (options.custom) {
    // A custom migration (drizzle-kit generate --custom), whose SQL the team writes by hand.
    kit('drizzle-kit', ['generate', '--custom', '--name', options.custom.name, '--dialect', dialect, '--schema', './schema.ts', '--out', './drizzle'], work)
    const file = (await readdir(join(work, 'drizzle'))).find((f) => f.endsWith(`_${options.custom!.name}.sql`))!
    await writeFile(join(work, 'drizzle', file), options.custom.sql)
  }
  if (options.slow) {
    // A custom migration (drizzle-kit generate --custom) holding a slow backfill, as teams write by hand.
    kit('drizzle-kit', ['generate', '--custom', '--name', 'backfill', '--dialect', dialect, '--schema', './schema.ts', '--out', './drizzle'], work)
    const custom = (await readdir(join(work, 'drizzle'))).find((f) => f.endsWith('_backfill.sql'))!
    await writeFile(join(work, 'drizzle', custom), dialect === 'postgresql' ? 'SELECT pg_sleep(1.5);' : SQLITE_SLOW)
  }
  return join(work, 'drizzle')
}

/** The same revisions converted by drizzle-kit 1.0's `up` into its layout: <timestamp>_<name>/migration.sql. */
export async function drizzleV1Folder(dialect: DrizzleDialect): Promise<string> {
  // 1.0 names folders to the second and orders them by name: generations a second apart, as in real use.
  const old = await drizzleFolder(dialect, undefined, { spacingMs: 1100 })
  const copy = join(old, '..', 'drizzle-v1')
  await cp(old, copy, { recursive: true })
  kit('drizzle-kit-v1/node_modules/drizzle-kit', ['up', '--dialect', dialect, '--out', 'drizzle-v1'], join(copy, '..'))
  return copy
}

/** A copy of a 0.x folder holding only its first `count` revisions: what drizzle had applied before the switch. */
export async function truncatedCopy(dir: string, count: number): Promise<string> {
  const { readFile, rm } = await import('node:fs/promises')
  const copy = `${dir}-first-${count}`
  await cp(dir, copy, { recursive: true })
  const journal = JSON.parse(await readFile(join(copy, 'meta', '_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> }
  for (const e of journal.entries.slice(count)) await rm(join(copy, `${e.tag}.sql`))
  journal.entries = journal.entries.slice(0, count)
  await writeFile(join(copy, 'meta', '_journal.json'), JSON.stringify(journal, null, 2))
  return copy
}

/** Runs drizzle-orm's own migrate() in a process, as an app using it would. */
export function drizzleMigrate(dialect: DrizzleDialect, url: string, folder: string) {
  return new Promise<{ ok: boolean; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(root, 'test/workers/drizzle-migrate.mjs'), dialect, url, folder], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    child.on('exit', (code) => resolve({ ok: code === 0 && out.includes('OK'), out }))
  })
}
