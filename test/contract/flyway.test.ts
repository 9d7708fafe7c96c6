// Taking over from Flyway (issue 12). Flyway (Java) does not install here: the folders follow its documented layout
// (https://documentation.red-gate.com/fd/migrations-184127470.html: V<version>__<description>.sql, U… undo, R__ repeatable)
// and the histories are written as flyway-core writes them (github.com/flyway/flyway: PostgreSQLDatabase /
// SQLiteDatabase.getRawCreateScript for the table, Database.getInsertStatement / getBaselineStatement for its rows,
// ChecksumCalculator for the checksum, JdbcTableSchemaHistory.removeFailedMigrations and delete() for `flyway repair`).
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMigrator } from '../../src/index.js'
import { flywayChecksum } from '../../src/tools/flyway.js'
import { captureLog, revisions, runWorker } from '../helpers.js'
import { failure, quiet } from './support.js'
import { targets, type Target, type TestDatabase } from './targets.js'

/** Versions 1, 1.1, 2, 10 (ordered as numbers: 1.1 before 2, 2 before 10), a seed, and an undo script for 10. */
const FILES: Record<string, string> = {
  'V1__create_users.sql': '-- users\r\ncreate table users (id int primary key, name varchar(100) not null);\r\n',
  'V1_1__add_email.sql': 'alter table users add column email varchar(200);\n',
  'V2__seed.sql': "insert into users (id, name) values (1, 'seed a');\ninsert into users (id, name) values (2, 'seed b');\n",
  'V10__items.sql': 'create table items (id int primary key, user_id int references users (id));\ncreate index items_user on items (user_id);\n',
  'U10__items.sql': 'drop table items;\n',
}
const VERSIONS = [
  { version: '1', description: 'create users', script: 'V1__create_users.sql' },
  { version: '1.1', description: 'add email', script: 'V1_1__add_email.sql' },
  { version: '2', description: 'seed', script: 'V2__seed.sql' },
  { version: '10', description: 'items', script: 'V10__items.sql' },
]
const ALL = VERSIONS.map((v) => v.version)
const seeded = [{ name: 'seed a' }, { name: 'seed b' }]

/** Flyway's own DDL for its table (getRawCreateScript, no baseline), in the default schema. */
const flywayDdl = (target: Target) =>
  target.name === 'mysql'
    ? `CREATE TABLE \`flyway_schema_history\` (
    \`installed_rank\` INT NOT NULL,
    \`version\` VARCHAR(50),
    \`description\` VARCHAR(200) NOT NULL,
    \`type\` VARCHAR(20) NOT NULL,
    \`script\` VARCHAR(1000) NOT NULL,
    \`checksum\` INT,
    \`installed_by\` VARCHAR(100) NOT NULL,
    \`installed_on\` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    \`execution_time\` INT NOT NULL,
    \`success\` BOOL NOT NULL,
    CONSTRAINT \`flyway_schema_history_pk\` PRIMARY KEY (\`installed_rank\`)
) ENGINE=InnoDB;
CREATE INDEX \`flyway_schema_history_s_idx\` ON \`flyway_schema_history\` (\`success\`);`
    : target.name === 'postgres'
    ? `CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");`
    : `CREATE TABLE "main"."flyway_schema_history" (
    "installed_rank" INT NOT NULL PRIMARY KEY,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INT,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),
    "execution_time" INT NOT NULL,
    "success" BOOLEAN NOT NULL
);
CREATE INDEX "main"."flyway_schema_history_s_idx" ON "flyway_schema_history" ("success");`

describe.each(targets.filter((t) => t.takeover.includes('flyway')))('taking over from Flyway ($label)', (target) => {
  const p = target.sql.param
  const yes = target.name === 'postgres' ? true : 1
  // Flyway's installed_by: the database user (the servers' test URLs connect as postgres and root).
  const by = target.name === 'postgres' ? 'postgres' : target.name === 'mysql' ? 'root' : ''
  const folder = () => revisions(FILES)
  const run = (db: TestDatabase, dir: string, extra: Record<string, unknown> = {}) => createMigrator({ ...db.connection, dir, ...quiet, ...extra }).run()

  /** What `flyway migrate` leaves: each script applied as its users apply SQL by hand, and Flyway's row for it. */
  async function flywayMigrate(db: TestDatabase, dir: string, upTo: number, options: { failLast?: boolean } = {}) {
    if (!(await db.tables()).includes('flyway_schema_history')) await db.exec(flywayDdl(target))
    for (const [i, v] of VERSIONS.slice(0, upTo).entries()) {
      const failed = options.failLast && i === upTo - 1
      if (!failed) await db.applyFile(join(dir, v.script))
      const text = await readFile(join(dir, v.script), 'utf8')
      await db.query(
        `insert into flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) values (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map(p).join(', ')})`,
        [i + 1, v.version, v.description, 'SQL', v.script, flywayChecksum(text), by, 17, failed ? (target.name === 'postgres' ? false : 0) : yes],
      )
    }
  }
  const flywayRows = (db: TestDatabase) =>
    db.query('select installed_rank, version, description, type, script, checksum, success from flyway_schema_history order by installed_rank')
  /** Everything a takeover could touch. */
  const state = async (db: TestDatabase) => {
    const tables = await db.tables()
    return {
      tables,
      schema: await db.schema(['boot_migrate_history', 'boot_migrate_history_progress']),
      flyway: await flywayRows(db),
      ours: tables.includes('boot_migrate_history') ? await db.query('select id, name, checksum, state from boot_migrate_history order by id') : null,
      users: tables.includes('users') ? await db.query('select id, name, email from users order by id') : null,
    }
  }
  const oursIds = async (db: TestDatabase) => (await db.query<{ id: string }>('select id from boot_migrate_history')).map((r) => r.id)
  /** The schema the scripts make when applied by hand in Flyway's order. */
  const byHand = async (dir: string) => {
    const db = await target.fresh()
    for (const v of VERSIONS) await db.applyFile(join(dir, v.script))
    return db.schema([])
  }

  it("Flyway's checksum: CRC-32 of the lines without terminators, signed, byte-order mark dropped", () => {
    expect(flywayChecksum('123456789')).toBe(0xcbf43926 | 0)
    expect(flywayChecksum('12345\r\n6789\n')).toBe(flywayChecksum('123456789'))
    expect(flywayChecksum('\ufeff12345\r6789')).toBe(flywayChecksum('123456789'))
  })

  it('from scratch: the V scripts run in version order (1, 1.1, 2, 10), each once, to the schema applying them by hand makes (psql -v ON_ERROR_STOP=1)', async () => {
    const db = await target.fresh()
    const dir = await folder()
    const result = await run(db, dir)
    expect(result.applied.map((r) => r.id)).toEqual(ALL)
    expect(result.current).toBe('10')
    expect(await db.schema(['boot_migrate_history', 'boot_migrate_history_progress'])).toEqual(await byHand(dir))
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect(await db.tables()).not.toContain('flyway_schema_history')
    expect(await run(db, dir)).toMatchObject({ upToDate: true, applied: [] })
  })

  it('takeover at the end: nothing runs, the history is adopted, the seed stays once', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await flywayMigrate(db, dir, 4)
    const before = await state(db)
    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    expect(result).toMatchObject({ applied: [], current: '10', warnings: [] })
    expect(log.text()).toMatch(/took over flyway's history \(flyway_schema_history\): 1_create_users, 1\.1_add_email, 2_seed, 10_items/)
    const after = await state(db)
    expect(after).toMatchObject({ schema: before.schema, flyway: before.flyway, users: before.users })
    expect(after.ours!.map((r) => r.id)).toEqual(['1', '1.1', '10', '2'])
  })

  it('takeover halfway: only the versions Flyway had not applied run', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await flywayMigrate(db, dir, 2)
    const result = await run(db, dir)
    expect(result.applied.map((r) => r.id)).toEqual(['2', '10'])
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect(await db.schema(['boot_migrate_history', 'boot_migrate_history_progress', 'flyway_schema_history'])).toEqual(await byHand(dir))
    expect((await oursIds(db)).sort()).toEqual(['1', '1.1', '10', '2'])
  })

  it('a baseline row (flyway baseline -baselineVersion=1.1 on a database made by hand): everything up to 1.1 counts as applied', async () => {
    const db = await target.fresh()
    const dir = await folder()
    for (const v of VERSIONS.slice(0, 2)) await db.applyFile(join(dir, v.script))
    await db.exec(flywayDdl(target))
    await db.query(
      `insert into flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) values (1, '1.1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, ${p(1)}, 0, ${p(2)})`,
      [by, yes],
    )
    expect((await run(db, dir)).applied.map((r) => r.id)).toEqual(['2', '10'])
    expect(await db.query('select name from users order by name')).toEqual(seeded)
  })

  it.each(['failed row, then flyway repair', 'applied version missing from the folder, then flyway repair marks it deleted'] as const)(
    'a refused takeover (%s) leaves the database as it was, boot after boot; after the fix nothing runs twice',
    async (kind) => {
      const db = await target.fresh()
      const dir = await folder()
      if (kind.startsWith('failed')) {
        // V10 failed outside a transaction (Flyway records success = false then) and was not applied.
        await flywayMigrate(db, dir, 4, { failLast: true })
      } else {
        // V3 was applied by Flyway, then its file was deleted from the folder.
        await flywayMigrate(db, dir, 4)
        await writeFile(join(dir, 'V3__gone.sql'), 'create table gone (x int);\n')
        await db.applyFile(join(dir, 'V3__gone.sql'))
        await db.query(
          `insert into flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) values (5, '3', 'gone', 'SQL', 'V3__gone.sql', 1, ${p(1)}, 3, ${p(2)})`,
          [by, yes],
        )
        await rm(join(dir, 'V3__gone.sql'))
      }
      const before = await state(db)
      for (let boot = 0; boot < 2; boot++) {
        const error = await failure(run(db, dir))
        expect(error.code).toBe('ADOPTION_MISMATCH')
        expect(error.message).toContain(kind.startsWith('failed') ? 'version 10, V10__items.sql) records a failed migration' : 'Flyway applied version 3 (V3__gone.sql')
        expect(error.message).toContain('flyway repair')
        expect(await state(db)).toEqual(before)
      }
      if (kind.startsWith('failed')) await db.query(`delete from flyway_schema_history where success = ${target.name === 'postgres' ? 'false' : '0'} and version = '10'`)
      else
        await db.query(
          `insert into flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) values (6, '3', 'gone', 'DELETE', 'V3__gone.sql', 1, ${p(1)}, 0, ${p(2)})`,
          [by, yes],
        )
      const flyway = await flywayRows(db)
      for (let boot = 0; boot < 2; boot++) {
        const result = await run(db, dir)
        expect(result.applied.map((r) => r.id)).toEqual(boot === 0 && kind.startsWith('failed') ? ['10'] : [])
        expect(await db.query('select name from users order by name')).toEqual(seeded)
        expect(await flywayRows(db)).toEqual(flyway)
        expect((await oursIds(db)).sort()).toEqual(['1', '1.1', '10', '2'])
      }
    },
  )

  it('a script edited after Flyway applied it is adopted with a warning naming both checksums; takeover.strict refuses it', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await flywayMigrate(db, dir, 4)
    const before = await state(db)
    await appendFile(join(dir, 'V1_1__add_email.sql'), '-- a later edit\n')
    const strict = await failure(run(db, dir, { takeover: { strict: true } }))
    expect(strict).toMatchObject({ code: 'ADOPTION_MISMATCH', message: expect.stringContaining('1.1_add_email') })
    expect(await state(db)).toEqual(before)

    const log = captureLog()
    const result = await createMigrator({ ...db.connection, dir, logger: log.logger }).run()
    const stored = String((before.flyway[1] as { checksum: number }).checksum)
    expect(result).toMatchObject({ applied: [], current: '10', warnings: [expect.stringContaining('V1_1__add_email.sql')] })
    expect(result.warnings[0]).toContain(`flyway's hash ${stored.slice(0, 12)}`)
    expect(log.text()).toMatch(/warn .*1\.1_add_email.* was changed after flyway applied it/)
    expect(await state(db)).toMatchObject({ flyway: before.flyway, users: before.users })
    expect(await run(db, dir)).toMatchObject({ upToDate: true, warnings: [] })
  })

  it('keepHistory writes flyway_schema_history as Flyway does (its DDL, SQL rows, UNDO_SQL on down), so Flyway could take back over', async () => {
    const db = await target.fresh()
    const dir = await folder()
    const m = createMigrator({ ...db.connection, dir, takeover: { keepHistory: true }, ...quiet })
    await m.run()
    // The same table and rows as `flyway migrate` writes.
    const reference = await target.fresh()
    await flywayMigrate(reference, dir, 4)
    expect(await db.schema(['boot_migrate_history', 'boot_migrate_history_progress'])).toEqual(await reference.schema([]))
    expect(await flywayRows(db)).toEqual(await flywayRows(reference))
    expect((await db.query<{ installed_by: string }>('select installed_by from flyway_schema_history'))[0]!.installed_by).toBe(by)

    await m.down()
    expect(await db.tables()).not.toContain('items')
    const undo = (await flywayRows(db)).at(-1)
    expect(undo).toMatchObject({ installed_rank: 5, version: '10', type: 'UNDO_SQL', script: 'U10__items.sql', checksum: flywayChecksum(FILES['U10__items.sql']!) })
    await m.run()
    expect((await flywayRows(db)).at(-1)).toMatchObject({ installed_rank: 6, version: '10', type: 'SQL', script: 'V10__items.sql' })

    // A database whose flyway_schema_history we kept is adopted as Flyway would read it (10: undone, then applied again).
    await db.query('drop table boot_migrate_history')
    expect(await run(db, dir)).toMatchObject({ applied: [], current: '10' })
  })

  it.skipIf(!target.processes)('several processes taking over at once: each version runs once, both histories end up complete', async () => {
    const db = await target.fresh()
    const dir = await folder()
    await flywayMigrate(db, dir, 2)
    const runs = await Promise.all(Array.from({ length: 6 }, () => runWorker({ url: db.url, dir, takeover: { keepHistory: true }, lockTimeout: 60_000 })))
    for (const r of runs) expect(r.error, r.stdout).toBeUndefined()
    expect(runs.flatMap((r) => r.result!.applied.map((a) => a.id)).sort()).toEqual(['10', '2'])
    expect(await db.query('select name from users order by name')).toEqual(seeded)
    expect((await oursIds(db)).sort()).toEqual(['1', '1.1', '10', '2'])
    const reference = await target.fresh()
    await flywayMigrate(reference, dir, 4)
    expect(await flywayRows(db)).toEqual(await flywayRows(reference))
  })

  it.each([
    ['B2__baseline.sql', 'baseline migrations (B<version>__<description>.sql) are not supported yet'],
    ['R__views.sql', 'repeatable migrations (R__<description>.sql) are not supported yet'],
    ['afterMigrate.sql', 'callbacks (beforeMigrate.sql, afterMigrate.sql …), which Flyway runs around every migrate, are not supported yet'],
    ['0011_ours.sql', 'named as a boot-migrate revision in a Flyway folder'],
  ])('%s is refused, naming the file and what to do', async (name, message) => {
    const db = await target.fresh()
    const dir = await revisions({ ...FILES, [name]: 'create table t (id int);\n' })
    const error = await failure(run(db, dir))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', file: join(dir, name) })
    expect(error.message).toContain(message)
    expect(error.message).toMatch(/V<next version>__<description>\.sql|delete the B file/)
    expect(await db.tables()).toEqual([])
  })

  it('a script using a Flyway placeholder (${name}) is refused, naming it: boot-migrate does not replace placeholders', async () => {
    const db = await target.fresh()
    const dir = await revisions({ 'V1__users.sql': 'create table ${prefix}users (id int);\n' })
    const error = await failure(run(db, dir))
    expect(error).toMatchObject({ code: 'INVALID_REVISION', file: join(dir, 'V1__users.sql'), message: expect.stringContaining('placeholder ${prefix}') })
    expect(await db.tables()).toEqual([])
  })

  it('a script whose statements cannot run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM) runs outside one, as Flyway runs it', async () => {
    const db = await target.fresh()
    const build = target.sql.buildIndex('users_name', 'users', 'name')
    const dir = await revisions({ ...FILES, 'V11__index.sql': `${build};\n` })
    const result = await run(db, dir)
    expect(result.applied.map((r) => r.id)).toEqual([...ALL, '11'])
    expect(await db.indexes()).toContain('users_name')
  })
})
