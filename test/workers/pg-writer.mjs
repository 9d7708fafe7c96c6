// The app during a backfill: keeps updating random rows of `users`, inserting new ones and reading, each statement with
// lock_timeout = BM_WRITER.lockTimeout, until the file BM_WRITER.stopFile exists. Prints `WROTE <n>` (writes so far) every 5 rounds and,
// at the end, `STATS {json}`: how many of each, the lock timeouts (55P03) and any other error it met.
import { existsSync } from 'node:fs'
import postgres from 'postgres'

const o = JSON.parse(process.env.BM_WRITER)
const sql = postgres(o.url, { max: 1, onnotice: () => undefined, connection: { lock_timeout: o.lockTimeout, application_name: 'backfill writer' } })
const stats = { updates: 0, inserts: 0, reads: 0, lockTimeouts: 0, errors: [], slowestMs: 0 }
let next = o.firstId
let loops = 0
const random = () => 1 + Math.floor(Math.random() * o.rows)

async function timed(kind, work) {
  const t0 = performance.now()
  try {
    await work()
    stats[kind]++
  } catch (e) {
    if (e.code === '55P03') stats.lockTimeouts++
    else stats.errors.push(`${e.code ?? ''} ${e.message}`)
  }
  stats.slowestMs = Math.max(stats.slowestMs, Math.round(performance.now() - t0))
}

while (!existsSync(o.stopFile)) {
  const id = random()
  const email = `Changed${id}.${stats.updates}@Example.COM`
  // The new code writes both columns (the expand step shipped before the backfill).
  await timed('updates', () => sql`update users set email = ${email}, email_lower = lower(${email}) where id = ${id}`)
  const fresh = next++
  await timed('inserts', () => sql`insert into users (id, email, email_lower) values (${fresh}, ${`New${fresh}@Example.COM`}, lower(${`New${fresh}@Example.COM`}))`)
  await timed('reads', () => sql`select id, email, email_lower from users where id = ${random()}`)
  if (++loops % 5 === 0) console.log(`WROTE ${stats.updates + stats.inserts}`)
}
console.log('STATS ' + JSON.stringify(stats))
await sql.end({ timeout: 1 })
