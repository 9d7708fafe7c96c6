// The MariaDB/MySQL test infrastructure itself: the run's server answers, fresh databases are empty,
// test processes find the URL in their environment, and a server of a test's own restarts and stops.
import mysql from 'mysql2/promise'
import { expect, it } from 'vitest'
import { describeMysql, freshMysqlDatabase, mysqlClient, mysqlUrl } from './mysql-helpers.js'
import { findMariadb, startMariadb } from './setup/mysql.js'

/** The first row of a query. */
const one = async (c: mysql.Connection, sql: string) => (await c.query<mysql.RowDataPacket[]>(sql))[0][0]!

describeMysql("the run's MariaDB/MySQL server", () => {
  it('answers on its URL and is MariaDB or MySQL', async () => {
    const c = await mysqlClient(mysqlUrl()!)
    const row = await one(c, 'select version() as version, @@version_comment as comment, database() as db')
    expect(`${row.version} ${row.comment}`).toMatch(/mariadb|mysql/i)
    expect(row.db).toBe(new URL(mysqlUrl()!).pathname.slice(1))
    // Processes the tests start (workers, scripts) find the same server in their environment.
    expect(process.env.TEST_MYSQL_URL).toBe(mysqlUrl())
  })

  it('freshMysqlDatabase() gives a new empty database each time', async () => {
    const [a, b] = [await freshMysqlDatabase(), await freshMysqlDatabase()]
    expect(a).not.toBe(b)
    const c = await mysqlClient(a)
    const row = await one(c, 
      'select database() as db, (select count(*) from information_schema.tables where table_schema = database()) as tables',
    )
    expect(row.db).toBe(new URL(a).pathname.slice(1))
    expect(Number(row.tables)).toBe(0)
  })
})

const found = findMariadb()
it.skipIf('reason' in found)("a server of a test's own keeps its data over restart() and is gone after stop()", async () => {
  const server = (await startMariadb())!
  try {
    const c1 = await mysql.createConnection(server.url)
    await c1.query('create table kept (id int primary key)')
    await c1.query('insert into kept values (1)')
    await c1.end()
    await server.restart()
    const c2 = await mysql.createConnection(server.url)
    const [rows] = await c2.query<mysql.RowDataPacket[]>('select id from kept')
    expect(rows.map((r) => r.id)).toEqual([1])
    await c2.end()
  } finally {
    await server.stop()
  }
  await expect(mysql.createConnection({ uri: server.url, connectTimeout: 2_000 })).rejects.toThrow()
})
