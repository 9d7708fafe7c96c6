// Another process writing to a SQLite file: once the condition in BM_BLOCK_WHEN (a SQL query that returns
// a truthy first column) holds, it takes the write lock with BEGIN IMMEDIATE (BM_LOCK_MODE=EXCLUSIVE: readers
// wait too, as they do while a writer commits), prints
// `LOCKED <json of BM_BLOCK_PROBE's first row>` (what it saw under the lock), holds the lock until it
// receives SIGUSR2 (at most BM_HOLD_MS), rolls back and prints `RELEASED`.
import Database from 'better-sqlite3'

const file = process.env.BM_FILE
const when = process.env.BM_BLOCK_WHEN
const probe = process.env.BM_BLOCK_PROBE
const hold = Number(process.env.BM_HOLD_MS ?? 20_000)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Installed first: a release that comes before the lock is taken is not lost (nor does it kill the process).
let release
const released = new Promise((resolve) => (release = resolve))
process.on('SIGUSR2', () => release())

const db = new Database(file, { timeout: 30_000 })
const deadline = Date.now() + 30_000
for (;;) {
  let ok = false
  try {
    ok = Boolean(db.prepare(when).pluck().get())
  } catch {
    // The tables do not exist yet.
  }
  if (ok) break
  if (Date.now() > deadline) {
    console.log(`GAVE-UP waiting for: ${when}`)
    process.exit(2)
  }
  await sleep(5)
}
db.exec(process.env.BM_LOCK_MODE === 'EXCLUSIVE' ? 'BEGIN EXCLUSIVE' : 'BEGIN IMMEDIATE')
console.log('LOCKED ' + JSON.stringify(probe ? db.prepare(probe).get() : null))
await Promise.race([released, sleep(hold)])
db.exec('ROLLBACK')
db.close()
console.log('RELEASED')
process.exit(0)
