// Scenario 4's server: the test suite's embedded PostgreSQL (max_connections=300), plus its version for the report.
import postgres from 'postgres'
import { startEmbeddedPostgres as start } from '../../test/setup/embedded-postgres.mjs'

export async function startEmbeddedPostgres() {
  const server = await start()
  const sql = postgres(server.url, { max: 1 })
  const [{ v }] = await sql`select current_setting('server_version') as v`
  await sql.end()
  return { ...server, version: `PostgreSQL ${v}` }
}
