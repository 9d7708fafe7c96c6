import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PostgresType, Sql } from 'postgres'
import { loadPostgres } from './dialects/postgres-driver.js'
import { MigrationError, messageOf } from './errors.js'
import { redactUrl } from './secrets.js'

/**
 * Runs `work` on a throwaway database next to `url`: a new database on the same PostgreSQL server
 * (the role needs CREATEDB), or a new SQLite file. Dropped afterwards whatever happens.
 */
export async function withScratchDatabase<T>(url: string, work: (scratchUrl: string) => Promise<T>): Promise<T> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const postgres = (await loadPostgres()) as unknown as (url: string, o: object) => Sql<Record<string, PostgresType>>
    const admin = postgres(url, { max: 1, onnotice: () => undefined })
    const name = `boot_migrate_scratch_${randomBytes(4).toString('hex')}`
    try {
      await admin.unsafe(`create database "${name}"`)
    } catch (e) {
      await admin.end()
      throw new MigrationError('DATABASE_UNREACHABLE', `Cannot create a scratch database on ${redactUrl(url)}: ${messageOf(e)}`, { cause: e })
    }
    try {
      const u = new URL(url)
      u.pathname = `/${name}`
      return await work(u.toString())
    } finally {
      await admin.unsafe(`drop database if exists "${name}" with (force)`).catch(() => admin.unsafe(`drop database if exists "${name}"`))
      await admin.end()
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-scratch-'))
  try {
    return await work(`sqlite:${join(dir, 'scratch.db')}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
