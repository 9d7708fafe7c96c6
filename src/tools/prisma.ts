import { join } from 'node:path'
import { MigrationError } from '../errors.js'
import type { Tool } from './tool.js'

/**
 * Prisma Migrate: `migration_lock.toml` and `<timestamp>_<name>/migration.sql`, which would otherwise pass for
 * drizzle-kit 1.0. Refused until its reader and `_prisma_migrations` adoption land (issue 12).
 */
export const prisma: Tool = {
  name: 'prisma',
  detect: (_dir, entries) => entries.some((e) => e.name === 'migration_lock.toml' && e.isFile()),
  load(dir) {
    const file = join(dir, 'migration_lock.toml')
    throw new MigrationError(
      'INVALID_REVISION',
      `${dir}: this folder looks like Prisma Migrate's layout (${file}, <timestamp>_<name>/migration.sql), which boot-migrate does not read. ` +
        'Move each <timestamp>_<name>/migration.sql to <timestamp>_<name>.sql with a "-- migrate:up" line at the top. ' +
        'On a database Prisma already migrated, run "boot-migrate stamp <last id>" first.',
      { file },
    )
  },
}
