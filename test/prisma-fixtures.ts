// Prisma Migrate folders and histories. The real `prisma` CLI cannot run here (its schema engine is a binary it
// downloads from Prisma's own server at install time, which this machine cannot reach), so both follow Prisma's
// documentation and source:
// - layout: https://www.prisma.io/docs/orm/prisma-migrate/understanding-prisma-migrate/migration-histories
//   (migration_lock.toml, <yyyyMMddHHmmss>_<name>/migration.sql, the file being the whole migration); the SQL is what
//   `prisma migrate dev` generates (comment headers, quoted names, CONSTRAINT "X_pkey", BEGIN/COMMIT around an enum
//   rebuild on PostgreSQL, PRAGMA foreign_keys=OFF table redefinition on SQLite);
// - history: `_prisma_migrations` as prisma-engines creates it (sql-schema-connector flavour/postgres.rs, flavour/sqlite.rs)
//   and fills it in `migrate deploy` (a row started, the script run, then finished_at and applied_steps_count = 1;
//   checksum = hex sha256 of migration.sql): https://www.prisma.io/docs/orm/prisma-migrate/understanding-prisma-migrate/migration-histories#the-_prisma_migrations-table
// - `prisma migrate resolve`: https://www.prisma.io/docs/orm/prisma-migrate/workflows/patching-and-hotfixing#failed-migration
import { createHash, randomUUID } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Target, TestDatabase } from './contract/targets.js'

const pg: Record<string, string> = {
  '20240101000000_init': `-- CreateEnum
CREATE TYPE "Role" AS ENUM ('USER', 'ADMIN', 'GUEST');

-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "role" "Role" NOT NULL DEFAULT 'USER',

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
`,
  '20240201000000_posts': `-- CreateTable
CREATE TABLE "Post" (
    "id" SERIAL NOT NULL,
    "title" TEXT NOT NULL,
    "authorId" INTEGER NOT NULL,

    CONSTRAINT "Post_pkey" PRIMARY KEY ("id")
);

-- AddForeignKey
ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
`,
  // A hand-written data migration (prisma migrate dev --create-only): running it twice would show.
  '20240301000000_seed': `-- Seed the settings
INSERT INTO "Setting" ("key", "value") VALUES ('plan', 'free');
INSERT INTO "Setting" ("key", "value") VALUES ('theme', 'dark');
`,
  // What Prisma generates when an enum value is removed: a BEGIN/COMMIT block.
  '20240401000000_roles': `/*
  Warnings:

  - The values [GUEST] on the enum \`Role\` will be removed. If these variants are still used in the database, this will fail.

*/
-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'ADMIN');
ALTER TABLE "User" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "User" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
`,
}

const sqlite: Record<string, string> = {
  '20240101000000_init': `-- CreateTable
CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'USER'
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
`,
  '20240201000000_posts': `-- CreateTable
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "title" TEXT NOT NULL,
    "authorId" INTEGER NOT NULL,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
`,
  '20240301000000_seed': pg['20240301000000_seed']!,
  // What Prisma generates to change a column on SQLite: the table is redefined with foreign keys off.
  '20240401000000_roles': `-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "role" TEXT NOT NULL DEFAULT 'MEMBER'
);
INSERT INTO "new_User" ("email", "id", "role") SELECT "email", "id", "role" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
`,
}

// What `prisma migrate dev` generates for MySQL: backticks, VARCHAR(191), indexes and the primary key inside CREATE TABLE,
// the table's character set; an enum is a column type, and removing a value is one MODIFY.
const my: Record<string, string> = {
  '20240101000000_init': `-- CreateTable
CREATE TABLE \`User\` (
    \`id\` INTEGER NOT NULL AUTO_INCREMENT,
    \`email\` VARCHAR(191) NOT NULL,
    \`role\` ENUM('USER', 'ADMIN', 'GUEST') NOT NULL DEFAULT 'USER',

    UNIQUE INDEX \`User_email_key\`(\`email\`),
    PRIMARY KEY (\`id\`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE \`Setting\` (
    \`key\` VARCHAR(191) NOT NULL,
    \`value\` VARCHAR(191) NOT NULL
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
`,
  '20240201000000_posts': `-- CreateTable
CREATE TABLE \`Post\` (
    \`id\` INTEGER NOT NULL AUTO_INCREMENT,
    \`title\` VARCHAR(191) NOT NULL,
    \`authorId\` INTEGER NOT NULL,

    PRIMARY KEY (\`id\`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AddForeignKey
ALTER TABLE \`Post\` ADD CONSTRAINT \`Post_authorId_fkey\` FOREIGN KEY (\`authorId\`) REFERENCES \`User\`(\`id\`) ON DELETE RESTRICT ON UPDATE CASCADE;
`,
  '20240301000000_seed': `-- Seed the settings
INSERT INTO \`Setting\` (\`key\`, \`value\`) VALUES ('plan', 'free');
INSERT INTO \`Setting\` (\`key\`, \`value\`) VALUES ('theme', 'dark');
`,
  '20240401000000_roles': `/*
  Warnings:

  - The values [GUEST] on the enum \`User_role\` will be removed. If these variants are still used in the database, this will fail.

*/
-- AlterTable
ALTER TABLE \`User\` MODIFY \`role\` ENUM('USER', 'ADMIN') NOT NULL DEFAULT 'USER';
`,
}

export const PRISMA_IDS = Object.keys(pg)

/** A Prisma migrations folder with the first `count` migrations. */
export async function prismaFolder(dialect: Target['name'], count = PRISMA_IDS.length): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-prisma-'))
  const files = dialect === 'postgres' ? pg : dialect === 'mysql' ? my : sqlite
  await writeFile(
    join(dir, 'migration_lock.toml'),
    `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${dialect === 'postgres' ? 'postgresql' : dialect}"\n`,
  )
  for (const name of PRISMA_IDS.slice(0, count)) {
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'migration.sql'), files[name]!)
  }
  return dir
}

/** A copy of a folder with only its first `count` migrations (an older release). */
export async function prismaTruncated(dir: string, count: number): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), 'boot-migrate-prisma-'))
  await cp(dir, copy, { recursive: true })
  const names = (await readdir(copy)).filter((n) => /^\d{14}_/.test(n)).sort()
  for (const n of names.slice(count)) await rm(join(copy, n), { recursive: true })
  return copy
}

/** Prisma's DDL for its table, as its schema engine creates it. */
export const prismaTableDdl = (dialect: Target['name']) =>
  dialect === 'mysql'
    ? `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`
    : dialect === 'postgres'
    ? `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`
    : `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`

export const sha256File = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex')

/** Prisma's timestamps: timestamptz on PostgreSQL, DATETIME(3) on MySQL, Unix milliseconds on SQLite. */
const stamp = (t: Target, ms = Date.now()) => (t.name === 'postgres' ? new Date(ms).toISOString() : t.name === 'mysql' ? new Date(ms) : ms)

/**
 * `prisma migrate deploy` as Prisma does it: the table, then for each migration not yet applied a started row, the
 * script, and the row finished. `fail` names a migration whose script fails half-way: its row stays unfinished
 * (with Prisma's log) and deploy stops, as P3018.
 */
export async function prismaDeploy(t: Target, db: TestDatabase, dir: string, fail?: string): Promise<void> {
  await db.query(prismaTableDdl(t.name))
  const p = t.sql.param
  const rows = await db.query<{ migration_name: string; finished_at: unknown; rolled_back_at: unknown }>('select * from _prisma_migrations')
  for (const name of (await readdir(dir)).filter((n) => /^\d{14}_/.test(n)).sort()) {
    if (rows.some((r) => r.migration_name === name && r.finished_at != null && r.rolled_back_at == null)) continue
    const file = join(dir, name, 'migration.sql')
    const id = randomUUID()
    await db.query(`insert into _prisma_migrations (id, checksum, started_at, migration_name, applied_steps_count) values (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, 0)`, [
      id,
      await sha256File(file),
      stamp(t),
      name,
    ])
    if (name === fail) {
      // Its first statement failed: nothing of it is in the database, the row stays unfinished with Prisma's log.
      await db.query(`update _prisma_migrations set logs = ${p(1)} where id = ${p(2)}`, [`Migration name: ${name}\n\nDatabase error code: 23505\n\nDatabase error:\nERROR: duplicate key value`, id])
      return
    }
    await db.applyFile(file)
    await db.query(`update _prisma_migrations set finished_at = ${p(1)}, applied_steps_count = applied_steps_count + 1 where id = ${p(2)}`, [stamp(t), id])
  }
}

/** `prisma migrate resolve --rolled-back <name>`: the failed row is marked rolled back. */
export const prismaResolveRolledBack = (t: Target, db: TestDatabase, name: string) =>
  db.query(`update _prisma_migrations set rolled_back_at = ${t.sql.param(1)} where migration_name = ${t.sql.param(2)} and finished_at is null and rolled_back_at is null`, [
    stamp(t),
    name,
  ])

/** `prisma migrate resolve --applied <name>`: the failed row is marked rolled back and a finished one recorded. */
export async function prismaResolveApplied(t: Target, db: TestDatabase, dir: string, name: string) {
  await prismaResolveRolledBack(t, db, name)
  const p = t.sql.param
  await db.query(
    `insert into _prisma_migrations (id, checksum, started_at, finished_at, migration_name, applied_steps_count) values (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, 0)`,
    [randomUUID(), await sha256File(join(dir, name, 'migration.sql')), stamp(t), stamp(t), name],
  )
}

/** What `prisma migrate deploy` would apply (and whether it refuses, P3009): its own reading of the table. */
export async function prismaPending(db: TestDatabase, dir: string): Promise<{ failed: string[]; pending: string[] }> {
  const rows = await db.query<{ migration_name: string; finished_at: unknown; rolled_back_at: unknown }>('select * from _prisma_migrations')
  const names = (await readdir(dir)).filter((n) => /^\d{14}_/.test(n)).sort()
  return {
    failed: rows.filter((r) => r.finished_at == null && r.rolled_back_at == null).map((r) => r.migration_name),
    pending: names.filter((n) => !rows.some((r) => r.migration_name === n && r.finished_at != null && r.rolled_back_at == null)),
  }
}
