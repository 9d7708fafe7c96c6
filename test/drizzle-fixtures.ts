import { spawnSync } from 'node:child_process'
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { root } from './helpers.js'

export type DrizzleDialect = 'postgresql' | 'sqlite'

const kit = (bin: string, args: string[], cwd: string) => {
  const r = spawnSync(process.execPath, [join(root, 'node_modules', bin, 'bin.cjs'), ...args], { cwd, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`drizzle-kit ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`)
}

/** Schemas in the test tree, one per generation: a create, a column change (a table rebuild on SQLite), an index. */
const schemas: Record<DrizzleDialect, string[]> = {
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
export async function drizzleFolder(dialect: DrizzleDialect, count = schemas[dialect].length): Promise<string> {
  // Inside the repository so that the schema files resolve drizzle-orm from its node_modules.
  await mkdir(join(root, '.tmp'), { recursive: true })
  const work = await mkdtemp(join(root, '.tmp', `drizzle-${dialect}-`))
  for (const schema of schemas[dialect].slice(0, count)) {
    await writeFile(join(work, 'schema.ts'), schema)
    kit('drizzle-kit', ['generate', '--dialect', dialect, '--schema', './schema.ts', '--out', './drizzle'], work)
    // drizzle-kit stamps each entry with Date.now(); distinct, increasing timestamps like real use.
    await new Promise((r) => setTimeout(r, 5))
  }
  return join(work, 'drizzle')
}

/** The same revisions converted by drizzle-kit 1.0's `up` into its layout: <timestamp>_<name>/migration.sql. */
export async function drizzleV1Folder(dialect: DrizzleDialect): Promise<string> {
  const old = await drizzleFolder(dialect)
  const copy = join(old, '..', 'drizzle-v1')
  await cp(old, copy, { recursive: true })
  kit('drizzle-kit-v1/node_modules/drizzle-kit', ['up', '--dialect', dialect, '--out', 'drizzle-v1'], join(copy, '..'))
  return copy
}
