// PostgreSQL refuses to run as root: the test servers (embedded-postgres-owner.mjs, pg-replica-owner.mjs) run as
// the `postgres` user when the suite runs as root.
import { execFileSync } from 'node:child_process'

/**
 * As root, the ids of the `postgres` user, created if missing (`note` is told so); otherwise undefined.
 * @param {(text: string) => void} [note]
 * @returns {{ uid: number, gid: number } | undefined}
 */
export function serverUser(note = () => undefined) {
  if (process.getuid?.() !== 0) return undefined
  const id = (/** @type {string} */ flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }))
  try {
    return { uid: id('-u'), gid: id('-g') }
  } catch {
    note('no "postgres" user: creating a system user "postgres" to run the server as\n')
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'])
    return { uid: id('-u'), gid: id('-g') }
  }
}
