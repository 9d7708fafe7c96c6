// A throwaway MariaDB (or MySQL) server from the machine's own binaries (Debian's mariadb-server:
// /usr/sbin/mariadbd) on a free port with a data folder under the temp folder: the test suite's server
// when TEST_MYSQL_URL is not set. Plain JS so bench/ and scripts can import it. Like the embedded
// PostgreSQL, the server is owned by a child process (mariadb-owner.mjs), so nothing in the caller's
// process can touch its exit code, and the server still goes if the caller dies.
import { spawnSync } from 'node:child_process'
import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './embedded-postgres.mjs'
import { ownedServer } from './owned-server.mjs'

export { freePort }

const owner = fileURLToPath(new URL('./mariadb-owner.mjs', import.meta.url))

const executable = (/** @type {string} */ file) => {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}
const pathDirs = () => (process.env.PATH ?? '').split(delimiter).filter(Boolean)
const first = (/** @type {string[]} */ names, /** @type {string[]} */ dirs) => {
  for (const dir of dirs) for (const name of names) if (executable(join(dir, name))) return join(dir, name)
  return undefined
}

/**
 * The server binary and how to initialise a data folder with it, or why there is none.
 * @returns {{ server: string, kind: 'mariadb' | 'mysql', installDb?: string, version: string } | { reason: string }}
 */
export function findMariadb() {
  const serverDirs = [...pathDirs(), '/usr/sbin', '/usr/libexec', '/usr/local/sbin']
  const server = first(['mariadbd', 'mysqld'], serverDirs)
  if (!server) {
    return {
      reason:
        `no mariadbd or mysqld binary (looked in PATH, /usr/sbin, /usr/libexec, /usr/local/sbin): ` +
        `install MariaDB (Debian/Ubuntu: apt-get install mariadb-server) or set TEST_MYSQL_URL=mysql://user@host:port/db`,
    }
  }
  const v = spawnSync(server, ['--no-defaults', '--version'], { encoding: 'utf8' })
  const version = `${v.stdout ?? ''}${v.stderr ?? ''}`.trim()
  const kind = /mariadb/i.test(version) ? 'mariadb' : 'mysql'
  // MariaDB initialises with mariadb-install-db (mysql_install_db before 10.4); MySQL 5.7+ with
  // `mysqld --initialize-insecure`, which needs no script.
  const installDb =
    kind === 'mariadb'
      ? first(['mariadb-install-db', 'mysql_install_db'], [...pathDirs(), join(dirname(dirname(server)), 'bin'), dirname(server), '/usr/bin', '/usr/local/bin'])
      : undefined
  if (kind === 'mariadb' && !installDb) {
    return { reason: `${server} is MariaDB but no mariadb-install-db or mysql_install_db was found to initialise a data folder` }
  }
  return { server, kind, installDb, version }
}

/**
 * Starts a throwaway server and creates the database `test` on it.
 * @param {number} [port] a given port, else a free one
 * @param {{ args?: string[] }} [options] extra server options (`--name=value`), after the suite's own
 * @returns {Promise<{ url: string, restart(): Promise<void>, stop(): Promise<void> } | undefined>}
 *   undefined (with the reason printed) when the machine has no server binary; rejects with the
 *   server's log when it cannot start
 */
export async function startMariadb(port, { args = [] } = {}) {
  const found = findMariadb()
  if ('reason' in found) {
    console.warn(`MariaDB/MySQL not started: ${found.reason}`)
    return undefined
  }
  const p = port ?? (await freePort())
  const config = JSON.stringify({ ...found, port: p, args })
  return ownedServer(owner, [config], `the suite's MariaDB (${found.server})`)
}
