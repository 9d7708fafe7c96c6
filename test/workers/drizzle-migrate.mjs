// drizzle-orm's own migrate(), as an app using it boots: the peer boot-migrate replaces.
const [dialect, url, folder] = process.argv.slice(2)
try {
  if (dialect === 'postgresql') {
    const { default: postgres } = await import('postgres')
    const { drizzle } = await import('drizzle-orm/postgres-js')
    const { migrate } = await import('drizzle-orm/postgres-js/migrator')
    const sql = postgres(url, { max: 1, onnotice: () => {} })
    await migrate(drizzle(sql), { migrationsFolder: folder })
    await sql.end()
  } else if (dialect === 'mysql') {
    const { default: mysql } = await import('mysql2/promise')
    const { drizzle } = await import('drizzle-orm/mysql2')
    const { migrate } = await import('drizzle-orm/mysql2/migrator')
    const conn = await mysql.createConnection(url)
    await migrate(drizzle(conn), { migrationsFolder: folder })
    await conn.end()
  } else {
    const { default: Database } = await import('better-sqlite3')
    const { drizzle } = await import('drizzle-orm/better-sqlite3')
    const { migrate } = await import('drizzle-orm/better-sqlite3/migrator')
    const db = new Database(url)
    migrate(drizzle(db), { migrationsFolder: folder })
    db.close()
  }
  console.log('OK')
} catch (e) {
  console.log('ERROR ' + (e.cause?.message ?? e.message))
  process.exitCode = 1
}
// drizzle leaves its client open after a failure; an app would crash here.
process.exit()
