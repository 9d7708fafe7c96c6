import { renderScript, sqlLiteral } from '../script.js'
import type { Work } from './dialect.js'
import { foreignKeysPragma } from './sqlite-connection.js'

const now = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

/**
 * What a run would send, as a script for the sqlite3 shell. A revision that switches foreign keys off is
 * wrapped as in a run: the switch before BEGIN (SQLite ignores it inside a transaction),
 * `PRAGMA foreign_key_check` before COMMIT for the reader to look at, and foreign keys on again after it.
 */
export function sqliteScript(work: Work[], table: string, historyDdl: string, header: string): string {
  return renderScript(
    work,
    {
      begin: ['BEGIN IMMEDIATE'],
      commit: 'COMMIT',
      createHistory: [historyDdl],
      insert: (rev, v) =>
        `insert into ${table} (id, name, checksum, state, applied_by, down_sql) values (${[rev.id, rev.name, v.checksum, v.state, 'sql script', v.downSql].map(sqlLiteral).join(', ')})`,
      setState: (id, state) => `update ${table} set state = ${sqlLiteral(state)}, applied_at = ${now} where id = ${sqlLiteral(id)}`,
      remove: (id) => `delete from ${table} where id = ${sqlLiteral(id)}`,
      wrap(statements) {
        const fkOff = statements.some((st) => foreignKeysPragma(st.text) === false)
        return {
          body: statements.filter((st) => foreignKeysPragma(st.text) === undefined),
          before: fkOff ? ['PRAGMA foreign_keys = OFF;'] : [],
          beforeCommit: fkOff ? ['PRAGMA foreign_key_check; -- must return no rows before COMMIT'] : [],
          after: fkOff ? ['PRAGMA foreign_keys = ON;'] : [],
        }
      },
    },
    header,
  )
}
