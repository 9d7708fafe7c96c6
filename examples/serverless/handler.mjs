// A serverless handler (AWS Lambda style; the same shape works for Vercel/Netlify functions).
// migrate() is memoised per process: the cold start runs one query when nothing is pending,
// and every warm invocation after it costs nothing.
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { migrate } from 'boot-migrate'

// No fallback: without a URL postgres.js would connect to a database named after the OS user (often `root`).
if (!process.env.DATABASE_URL) throw new Error('Set DATABASE_URL to the database the handler uses, e.g. postgres://postgres@127.0.0.1:5432/notes')
const sql = postgres(process.env.DATABASE_URL, { max: 1 })
const dir = fileURLToPath(new URL('../postgres-service/migrations', import.meta.url))

export async function handler() {
  await migrate({ client: sql, dir, mode: process.env.MIGRATE_MODE === 'wait' ? 'wait' : 'migrate' })
  const notes = await sql`select id, body from notes order by id`
  return { statusCode: 200, body: JSON.stringify(notes) }
}

// `node examples/serverless/handler.mjs` invokes it twice, as a platform would.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await handler())
  console.log(await handler())
  await sql.end()
}
