// Every migrator as its documentation says to use it, behind one shape:
//   load(dialect)                    imports the package and its driver (what an app imports)
//   app(url, dialect)                the app's own client, connected once: { migrate(target), select1(), close() }
//   cold(url, target, dialect)       a cold boot: opens its own connection, migrates, closes
//   coldSelect1(url, dialect)        the same driver doing connect + SELECT 1 + close, for the ratio
// `url` is a postgres:// URL or, for SQLite, a file path. `target` is what the format writer returned.
// Imports are lazy so that a child process of scenario 2 or 4 loads one migrator only.
import { pathToFileURL } from 'node:url'

const dbName = (url) => decodeURIComponent(new URL(url).pathname.slice(1))
const quiet = () => undefined

/** The package under test: by its name, or the copy of dist/ that run.mjs made for the run (BOOT_MIGRATE_ENTRY). */
const bootMigrate = () => import(process.env.BOOT_MIGRATE_ENTRY ? pathToFileURL(process.env.BOOT_MIGRATE_ENTRY).href : 'boot-migrate')
const postgresJs = async () => (await import('postgres')).default
const pgModule = async () => (await import('pg')).default
const sqliteDriver = async () => (await import('better-sqlite3')).default
/** mysql2's promise API (the root's devDependency, found from bench/ by Node's resolution). */
const mysql2 = async () => {
  const m = await import('mysql2/promise')
  return m.default ?? m
}

/** The URL boot-migrate is given: postgres:// and mysql:// as they are, a SQLite file as sqlite:<file>. */
const bmUrl = (url, dialect) => (dialect === 'sqlite' ? `sqlite:${url}` : url)
/** The app's client boot-migrate is handed: postgres.js, a better-sqlite3 Database, or a mysql2/promise pool. */
const bmClient = (driver, url, dialect) =>
  dialect === 'pg' ? driver(url, { max: 1, onnotice: quiet }) : dialect === 'mysql' ? driver.createPool({ uri: url, connectionLimit: 2 }) : new driver(url)
const bmSelect1 = (client, dialect) =>
  dialect === 'pg' ? () => client`select 1` : dialect === 'mysql' ? () => client.query('select 1') : async () => client.prepare('select 1').get()
const bmClose = (client, dialect) => (dialect === 'sqlite' ? client.close() : client.end())
const coldSelect1 = (url, dialect) => (dialect === 'pg' ? postgresSelect1(url) : dialect === 'mysql' ? mysqlSelect1(url) : sqliteSelect1(url))

export const peers = {
  'boot-migrate': {
    pkg: 'boot-migrate',
    // How a batch of pending revisions is committed by default: 'each' revision, or 'all' in one transaction.
    commits: 'each',
    dialects: ['pg', 'sqlite', 'mysql'],
    drivers: { pg: 'postgres', sqlite: 'better-sqlite3', mysql: 'mysql2' },
    async load(dialect) {
      const m = await bootMigrate()
      return { m, driver: dialect === 'pg' ? await postgresJs() : dialect === 'mysql' ? await mysql2() : await sqliteDriver() }
    },
    async app(url, dialect) {
      const { m, driver } = await this.load(dialect)
      const client = bmClient(driver, url, dialect)
      return {
        // createMigrator().run() every call: the whole check, as a new process would do it. (migrate() would
        // answer later calls from its per-process memo without any query: not a fair comparison.)
        migrate: async (dir) => (await m.createMigrator({ client, dir, logger: false }).run()).applied.length,
        select1: bmSelect1(client, dialect),
        close: async () => bmClose(client, dialect),
      }
    },
    async cold(url, dir, dialect) {
      const { m } = await this.load(dialect)
      const r = await m.createMigrator({ url: bmUrl(url, dialect), dir, logger: false }).run()
      return r.applied.length
    },
    coldSelect1,
  },

  drizzle: {
    pkg: 'drizzle-orm',
    commits: 'all',
    dialects: ['pg', 'sqlite', 'mysql'],
    drivers: { pg: 'postgres', sqlite: 'better-sqlite3', mysql: 'mysql2' },
    async load(dialect) {
      if (dialect === 'mysql') {
        const [{ drizzle }, { migrate }, driver] = await Promise.all([import('drizzle-orm/mysql2'), import('drizzle-orm/mysql2/migrator'), mysql2()])
        return { drizzle, migrate, driver }
      }
      if (dialect === 'pg') {
        const [{ drizzle }, { migrate }, driver] = await Promise.all([import('drizzle-orm/postgres-js'), import('drizzle-orm/postgres-js/migrator'), postgresJs()])
        return { drizzle, migrate, driver }
      }
      const [{ drizzle }, { migrate }, driver] = await Promise.all([import('drizzle-orm/better-sqlite3'), import('drizzle-orm/better-sqlite3/migrator'), sqliteDriver()])
      return { drizzle, migrate, driver }
    },
    async app(url, dialect) {
      const { drizzle, migrate, driver } = await this.load(dialect)
      // MySQL: a mysql2 pool, as drizzle's docs show (drizzle({ client: pool })).
      const client = bmClient(driver, url, dialect)
      const db = dialect === 'mysql' ? drizzle({ client }) : drizzle(client)
      return {
        migrate: async (folder) => migrate(db, { migrationsFolder: folder }),
        select1: bmSelect1(client, dialect),
        close: async () => bmClose(client, dialect),
      }
    },
    async cold(url, folder, dialect) {
      const a = await this.app(url, dialect)
      try {
        await a.migrate(folder)
      } finally {
        await a.close()
      }
    },
    coldSelect1,
  },

  kysely: {
    pkg: 'kysely',
    commits: 'all',
    dialects: ['pg'],
    drivers: { pg: 'pg' },
    async load() {
      const [k, fs, path, pg] = await Promise.all([import('kysely'), import('node:fs/promises'), import('node:path'), pgModule()])
      return { k, fs, path, pg }
    },
    async app(url) {
      const { k, fs, path, pg } = await this.load()
      const db = new k.Kysely({ dialect: new k.PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 10 }) }) })
      return {
        async migrate(folder) {
          const migrator = new k.Migrator({ db, provider: new k.FileMigrationProvider({ fs, path, migrationFolder: folder }) })
          const { error, results } = await migrator.migrateToLatest()
          if (error) throw error
          return results?.filter((r) => r.status === 'Success').length ?? 0
        },
        select1: () => k.sql`select 1`.execute(db),
        close: () => db.destroy(),
      }
    },
    async cold(url, folder) {
      const a = await this.app(url)
      try {
        return await a.migrate(folder)
      } finally {
        await a.close()
      }
    },
    async coldSelect1(url) {
      const a = await this.app(url)
      await a.select1()
      await a.close()
    },
  },

  knex: {
    pkg: 'knex',
    commits: 'all',
    dialects: ['pg', 'sqlite', 'mysql'],
    drivers: { pg: 'pg', sqlite: 'better-sqlite3', mysql: 'mysql2' },
    async load(dialect) {
      const knex = (await import('knex')).default
      // knex requires its driver by name when the first connection is made; load it now so that it is counted.
      if (dialect === 'pg') await pgModule()
      else if (dialect === 'mysql') await import('mysql2')
      else await sqliteDriver()
      return { knex }
    },
    async app(url, dialect) {
      const { knex } = await this.load(dialect)
      const db =
        dialect === 'pg'
          ? knex({ client: 'pg', connection: url })
          : dialect === 'mysql'
            ? knex({ client: 'mysql2', connection: url })
            : knex({ client: 'better-sqlite3', connection: { filename: url }, useNullAsDefault: true })
      return {
        async migrate(directory) {
          const [, log] = await db.migrate.latest({ directory, loadExtensions: ['.cjs'] })
          return log.length
        },
        select1: () => db.raw('select 1'),
        close: () => db.destroy(),
      }
    },
    async cold(url, directory, dialect) {
      const a = await this.app(url, dialect)
      try {
        return await a.migrate(directory)
      } finally {
        await a.close()
      }
    },
    async coldSelect1(url, dialect) {
      const a = await this.app(url, dialect)
      await a.select1()
      await a.close()
    },
  },

  'node-pg-migrate': {
    pkg: 'node-pg-migrate',
    commits: 'all',
    dialects: ['pg'],
    drivers: { pg: 'pg' },
    options: {},
    async load() {
      const [{ runner }, pg] = await Promise.all([import('node-pg-migrate'), pgModule()])
      return { runner, pg }
    },
    settings(dir) {
      return { dir, direction: 'up', migrationsTable: 'pgmigrations', log: quiet, ...this.options }
    },
    async app(url) {
      const { runner, pg } = await this.load()
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return {
        migrate: async (dir) => (await runner({ ...this.settings(dir), dbClient: client })).length,
        select1: () => client.query('select 1'),
        close: () => client.end(),
      }
    },
    async cold(url, dir) {
      const { runner } = await this.load()
      return (await runner({ ...this.settings(dir), databaseUrl: url })).length
    },
    coldSelect1: (url) => pgSelect1(url),
  },

  postgrator: {
    pkg: 'postgrator',
    // No transaction of its own: each file is one multi-statement query (an implicit transaction), its history row another.
    commits: 'each',
    dialects: ['pg'],
    drivers: { pg: 'pg' },
    async load() {
      const [Postgrator, pg] = await Promise.all([import('postgrator').then((m) => m.default), pgModule()])
      return { Postgrator, pg }
    },
    async app(url) {
      const { Postgrator, pg } = await this.load()
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return {
        async migrate(pattern) {
          const p = new Postgrator({ migrationPattern: pattern, driver: 'pg', database: dbName(url), schemaTable: 'schemaversion', execQuery: (q) => client.query(q) })
          return (await p.migrate()).length
        },
        select1: () => client.query('select 1'),
        close: () => client.end(),
      }
    },
    async cold(url, pattern) {
      const a = await this.app(url)
      try {
        return await a.migrate(pattern)
      } finally {
        await a.close()
      }
    },
    coldSelect1: (url) => pgSelect1(url),
  },
}

/**
 * boot-migrate with the revisions given in code (`migrations: [...]`, as a bundled serverless function has them):
 * no folder to read on each boot. Scenario 1 only.
 */
peers['boot-migrate (revisions in code)'] = {
  ...peers['boot-migrate'],
  scenarios: [1],
  async app(url, dialect) {
    const { m, driver } = await this.load(dialect)
    const client = bmClient(driver, url, dialect)
    let migrations
    return {
      migrate: async (dir) => (await m.createMigrator({ client, migrations: (migrations ??= await inCode(dir)), logger: false }).run()).applied.length,
      select1: bmSelect1(client, dialect),
      close: async () => bmClose(client, dialect),
    }
  },
  async cold(url, dir, dialect) {
    const { m } = await this.load(dialect)
    const r = await m.createMigrator({ url: bmUrl(url, dialect), migrations: await inCode(dir), logger: false }).run()
    return r.applied.length
  },
}

/**
 * boot-migrate's `migrate()`, which a serverless handler may call on every request: memoised per process, so
 * after the first call it answers without a query. Scenario 1(a) only; not comparable with a per-call check.
 */
peers['boot-migrate migrate() (memoised)'] = {
  ...peers['boot-migrate'],
  scenarios: [1],
  noCold: true,
  async app(url, dialect) {
    const { m, driver } = await this.load(dialect)
    const client = bmClient(driver, url, dialect)
    return {
      // The memo keeps the first call's result (made at head during the warm-up): nothing applied.
      migrate: async (dir) => (await m.migrate({ client, dir, logger: false })).applied.length,
      select1: bmSelect1(client, dialect),
      close: async () => bmClose(client, dialect),
    }
  },
}

/** The revisions of a boot-migrate folder as an array, as a bundler would inline them (read once: they are code). */
const inlined = new Map()
async function inCode(dir) {
  if (inlined.has(dir)) return inlined.get(dir)
  const { readdirSync, readFileSync } = await import('node:fs')
  const out = []
  for (const f of readdirSync(dir).sort()) {
    const [, id, name] = /^(\d+)_(.*)\.sql$/.exec(f)
    out.push({ id, name, up: readFileSync(`${dir}/${f}`, 'utf8').replace(/^-- migrate:up\n/, '') })
  }
  inlined.set(dir, out)
  return out
}

/**
 * boot-migrate with `transaction: 'all'`: one transaction around every pending revision, as drizzle, Kysely,
 * knex and node-pg-migrate do by default. Scenario 3 only.
 */
peers["boot-migrate (transaction: 'all')"] = {
  ...peers['boot-migrate'],
  // Not on MySQL: there it refuses a pending revision with DDL (which commits implicitly) before anything runs.
  dialects: ['pg', 'sqlite'],
  commits: 'all',
  scenarios: [3],
  async cold(url, dir, dialect) {
    const { m } = await this.load(dialect)
    const r = await m.createMigrator({ url: bmUrl(url, dialect), dir, transaction: 'all', logger: false }).run()
    return r.applied.length
  },
}

/** node-pg-migrate with `advisoryLockMode: 'wait'`, the setting a user deploying replicas would pick (the default fails at once). */
peers['node-pg-migrate (lock: wait)'] = { ...peers['node-pg-migrate'], scenarios: [4], options: { advisoryLockMode: 'wait' } }

async function postgresSelect1(url) {
  const sql = (await postgresJs())(url, { max: 1, onnotice: quiet })
  await sql`select 1`
  await sql.end()
}
async function pgSelect1(url) {
  const pg = await pgModule()
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  await c.query('select 1')
  await c.end()
}
async function mysqlSelect1(url) {
  const mysql = await mysql2()
  const c = await mysql.createConnection({ uri: url })
  await c.query('select 1')
  await c.end()
}
async function sqliteSelect1(file) {
  const Database = await sqliteDriver()
  const db = new Database(file)
  db.prepare('select 1').get()
  db.close()
}

/** The format each peer reads (the variant shares its base's). */
export const formatOf = (name) => name.replace(/ .*$/, '')

/** The migrators of a scenario: every peer that supports the dialect, and the variants meant for that scenario. */
export const peerNames = (dialect, scenario) =>
  Object.keys(peers).filter((n) => peers[n].dialects.includes(dialect) && (!peers[n].scenarios || peers[n].scenarios.includes(scenario)))

/** boot-migrate with `transaction: 'each'` set: a commit per revision, the default before SQLite batched its pending revisions. Scenario 5. */
peers["boot-migrate (transaction: 'each')"] = {
  ...peers['boot-migrate'],
  dialects: ['pg', 'sqlite'],
  scenarios: [5],
  async cold(url, dir, dialect) {
    const { m } = await this.load(dialect)
    const r = await m.createMigrator({ url: bmUrl(url, dialect), dir, transaction: 'each', logger: false }).run()
    return r.applied.length
  },
}
