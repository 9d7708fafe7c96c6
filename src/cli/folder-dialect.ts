import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The database a folder says it is for, where its tool writes it down: drizzle-kit's `meta/_journal.json`
 * (`"dialect"`) and Prisma's `migration_lock.toml` (`provider`). Undefined for folders that do not say.
 */
export function folderDialect(dir: string): 'postgres' | 'sqlite' | 'mysql' | undefined {
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8')
    } catch {
      return undefined
    }
  }
  const said = /"dialect"\s*:\s*"(\w+)"/.exec(read('meta/_journal.json') ?? '')?.[1] ?? /provider\s*=\s*"(\w+)"/.exec(read('migration_lock.toml') ?? '')?.[1]
  if (!said) return undefined
  return /^postgres/i.test(said) ? 'postgres' : /sqlite|turso/i.test(said) ? 'sqlite' : /mysql|singlestore/i.test(said) ? 'mysql' : undefined
}
