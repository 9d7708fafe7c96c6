import { validate } from '../core/validate.js'
import type { Dialect } from '../dialects/dialect.js'
import { mysqlRules } from '../dialects/mysql.js'
import { postgresRules } from '../dialects/postgres.js'
import { sqliteRules } from '../dialects/sqlite.js'
import { sqliteFile } from '../dialects/sqlite-url.js'
import { loadRevisions } from '../revisions/load.js'
import type { Revision } from '../revisions/revision.js'
import type { MigrateOptions } from '../types.js'
import { Usage } from './args.js'

/**
 * The revisions of the folder, parsed and checked with a dialect's SQL rules, without a database or a driver:
 * `check` and `heads` without --url run where neither postgres nor better-sqlite3 is installed.
 * The rules come from --dialect, else from the URL's scheme, else PostgreSQL's.
 */
export async function offlineRevisions(o: MigrateOptions, dialect: string | undefined): Promise<Revision[]> {
  const name = dialect ?? (o.url && sqliteFile(o.url) ? 'sqlite' : o.url && /^(mysql|mariadb):\/\//i.test(o.url) ? 'mysql' : 'postgres')
  if (name !== 'postgres' && name !== 'sqlite' && name !== 'mysql') throw new Usage(`--dialect is postgres, sqlite or mysql, not "${name}".`)
  const rules = name === 'sqlite' ? sqliteRules : name === 'mysql' ? mysqlRules : postgresRules
  const revisions = await loadRevisions(o.migrations ? { migrations: o.migrations } : { dir: o.dir ?? './migrations' }, rules.syntax)
  // validate() reads the dialect's name, syntax and transaction rules only.
  validate(revisions, rules as unknown as Dialect)
  return revisions
}
