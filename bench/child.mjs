// One process of scenario 2 (a cold process) or 4 (a replica), loading one migrator only.
//   node child.mjs cold    <peer> <dialect> <url> <target>   import, migrate (at head: nothing to do), exit
//   node child.mjs import  <peer> <dialect>                  import only
//   node child.mjs driver  -     <dialect> <url>             the driver alone: import, connect, SELECT 1
//   node child.mjs node                                      nothing: Node's own start-up
//   node child.mjs replica <peer> <dialect> <url> <target>   import, print READY, wait for "go" on stdin, migrate
// Prints one line: RESULT {json}.
import { performance } from 'node:perf_hooks'

const [mode, name, dialect, url, target] = process.argv.slice(2)
const out = (o) => process.stdout.write(`RESULT ${JSON.stringify({ ...o, maxRssKb: process.resourceUsage().maxRSS })}\n`)

if (mode === 'node') {
  out({})
} else if (mode === 'driver') {
  // The driver boot-migrate uses (postgres.js / mysql2 / better-sqlite3), with nothing on top.
  const t0 = performance.now()
  const driver = dialect === 'pg' ? (await import('postgres')).default : dialect === 'mysql' ? await import('mysql2/promise') : (await import('better-sqlite3')).default
  const importMs = performance.now() - t0
  if (dialect === 'mysql') {
    const c = await (driver.default ?? driver).createConnection({ uri: url })
    await c.query('select 1')
    await c.end()
  } else if (dialect === 'pg') {
    const sql = driver(url, { max: 1 })
    await sql`select 1`
    await sql.end()
  } else {
    const db = new driver(url)
    db.prepare('select 1').get()
    db.close()
  }
  out({ importMs, runMs: performance.now() - t0 - importMs })
} else {
  const { peers } = await import('./lib/peers.mjs')
  const peer = peers[name]
  const t0 = performance.now()
  await peer.load(dialect)
  const importMs = performance.now() - t0
  if (mode === 'import') {
    out({ importMs })
  } else if (mode === 'cold') {
    const t1 = performance.now()
    const applied = await peer.cold(url, target, dialect)
    out({ importMs, runMs: performance.now() - t1, applied })
  } else if (mode === 'replica') {
    process.stdout.write('READY\n')
    const go = await new Promise((resolve) => {
      let buf = ''
      process.stdin.on('data', (d) => {
        buf += d
        if (buf.includes('\n')) resolve(buf.trim())
      })
    })
    process.stdin.destroy()
    const t0go = Number(go.split(' ')[1])
    try {
      const applied = await peer.cold(url, target, dialect)
      out({ ok: true, applied: applied ?? null, startedAt: t0go, readyAt: Date.now() })
    } catch (e) {
      out({ ok: false, error: String(e?.message ?? e).split('\n')[0].slice(0, 200), code: e?.code ?? null, startedAt: t0go, readyAt: Date.now() })
      process.exitCode = 1
    }
  }
}
