import type { TestProject } from 'vitest/node'
import { findMariadb, startMariadb } from './mariadb.mjs'

export { findMariadb, startMariadb } from './mariadb.mjs'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The MariaDB/MySQL server of the run (database `test`, root), or undefined: see mysqlSkipReason. */
    mysqlUrl: string | undefined
    /** Why there is no MariaDB/MySQL server (the MySQL tests are skipped), when mysqlUrl is undefined. */
    mysqlSkipReason: string | undefined
  }
}

/**
 * TEST_MYSQL_URL when set; otherwise a throwaway MariaDB of our own for the whole run when the machine
 * has the binaries (a server that cannot start fails the run); otherwise none, and the MySQL tests are
 * skipped with the reason printed here once.
 *
 * The own server's URL is also put in process.env.TEST_MYSQL_URL, so the test processes and whatever
 * they spawn (workers, scripts, a nested vitest) find it there and start no server of their own.
 */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_MYSQL_URL
  if (given) {
    project.provide('mysqlUrl', given)
    project.provide('mysqlSkipReason', undefined)
    return
  }
  const found = findMariadb()
  if ('reason' in found) {
    const reason = `MariaDB/MySQL tests skipped: ${found.reason}`
    console.warn(reason)
    project.provide('mysqlUrl', undefined)
    project.provide('mysqlSkipReason', reason)
    return
  }
  const server = (await startMariadb())!
  project.provide('mysqlUrl', server.url)
  project.provide('mysqlSkipReason', undefined)
  process.env.TEST_MYSQL_URL = server.url
  return async () => {
    delete process.env.TEST_MYSQL_URL
    await server.stop()
  }
}
