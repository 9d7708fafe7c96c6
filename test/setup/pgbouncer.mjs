// A PgBouncer of our own in front of the suite's PostgreSQL, in transaction mode: the pooler serverless users sit
// behind (Supabase's port 6543, Neon's -pooler hosts). Debian's `pgbouncer` binary; CI installs it (.ci/run).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './embedded-postgres.mjs'

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer', '/usr/local/sbin/pgbouncer']

/** @returns {string | undefined} the pgbouncer binary, or undefined when none is installed */
export function pgbouncerBinary() {
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found) return found
  try {
    return execFileSync('sh', ['-c', 'command -v pgbouncer'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

/** PgBouncer refuses to run as root: as root, the user it switches to (-u). */
function runAs() {
  if (process.getuid?.() !== 0) return []
  for (const user of ['postgres', 'nobody']) {
    try {
      execFileSync('id', ['-u', user], { stdio: 'ignore' })
      return ['-u', user]
    } catch {
      // next
    }
  }
  return []
}

const listening = (port) =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => resolve(false))
  })

/**
 * Starts pgbouncer in transaction mode in front of `serverUrl` (any database name is passed through).
 * @param {string} serverUrl the PostgreSQL the suite uses
 * @param {Record<string, string | number>} [settings] more [pgbouncer] settings (server_round_robin …)
 * @returns {Promise<{ url(database: string): string, admin: string, log(): string, stop(): Promise<void> }>}
 */
export async function startPgbouncer(serverUrl, settings = {}) {
  const bin = pgbouncerBinary()
  if (!bin) throw new Error('no pgbouncer binary')
  const server = new URL(serverUrl)
  const user = decodeURIComponent(server.username || 'postgres')
  const password = decodeURIComponent(server.password)
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-pgbouncer-'))
  // Readable by the user pgbouncer switches to when started as root; a throwaway test server's password only.
  await chmod(dir, 0o755)
  const quote = (v) => `'${String(v).replace(/'/g, "''")}'`
  const target = [
    `host=${server.hostname.replace(/^\[|\]$/g, '')}`,
    `port=${server.port || 5432}`,
    `user=${quote(user)}`,
    ...(password ? [`password=${quote(password)}`] : []),
  ].join(' ')
  const config = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    admin_users: user,
    pool_mode: 'transaction',
    default_pool_size: 20,
    max_client_conn: 500,
    // postgres.js does not send it; other drivers (and psql) may.
    ignore_startup_parameters: 'extra_float_digits',
    ...settings,
  }
  await writeFile(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 })
  await writeFile(
    join(dir, 'pgbouncer.ini'),
    `[databases]\n* = ${target}\n\n[pgbouncer]\n${Object.entries(config)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
    { mode: 0o644 },
  )
  const child = spawn(bin, [...runAs(), join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // Never outlives the test process.
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  for (let i = 0; !(await listening(port)); i++) {
    if (child.exitCode !== null || i > 100) {
      kill()
      await rm(dir, { recursive: true, force: true })
      throw new Error(`pgbouncer did not start:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const at = (database) => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`
  return {
    url: (database) => at(database),
    admin: at('pgbouncer'),
    log: () => output,
    async stop() {
      process.off('exit', kill)
      child.kill('SIGTERM')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}
