import Database from 'better-sqlite3'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { splitStatements, type SqlSyntax } from '../src/revisions/split.js'
import { sqliteCorpus } from './split-corpus.js'

const lite: SqlSyntax = { dollarQuotes: false, brackets: true, nestedComments: false }
const ours = (sql: string) => splitStatements(sql, lite).map((s) => s.text)

/** Compiles `sql` in SQLite, which refuses a text holding more than one statement; runs it when `run`. */
function compile(db: Database.Database, sql: string, run: boolean) {
  const st = db.prepare(sql)
  if (run) {
    if (st.reader) st.all()
    else st.run()
  }
}

// Generated statements SQLite accepts, built from the lexical forms that can hold a `;`.
const alphabet = fc.constantFrom('a', ' ', ';', "'", '"', '`', ']', '[', '$', '-', '/', '*', '\\', '(', ')', '\n', 'ç', '😀', 'end', 'begin')
const content = fc.array(alphabet, { maxLength: 12 }).map((a) => a.join(''))
const literal = fc.oneof(
  fc.constantFrom('1', 'null', "x'00ff'"),
  content.map((s) => `'${s.replace(/'/g, "''")}'`),
  content.filter((s) => !s.includes('*/')).map((s) => `/*${s}*/ 1`),
  content.filter((s) => !s.includes('\n')).map((s) => `1 --${s}\n`),
)
const value = fc.oneof(literal, fc.constantFrom('new.begin', 'new.end'))
const alias = fc.oneof(
  content.filter((s) => s.length > 0).map((s) => `"${s.replace(/"/g, '""')}"`),
  content.filter((s) => s.length > 0).map((s) => `\`${s.replace(/`/g, '``')}\``),
  content.filter((s) => !s.includes(']')).map((s) => `[${s}]`),
)
const column = fc.tuple(literal, alias).map(([v, a]) => `${v} as ${a}`)
const columns = fc.array(column, { minLength: 1, maxLength: 3 }).map((a) => a.join(', '))
const bodyStatement = fc.oneof(
  columns.map((c) => `select ${c}`),
  fc.tuple(value, value).map(([a, b]) => `update t set end = case when ${a} is null then ${b} end where begin = ${a}`),
  value.map((v) => `insert into t (begin, trigger) values (${v}, 'x;')`),
)
const generated = fc.oneof(
  columns.map((c) => `select ${c}`),
  fc
    .tuple(fc.array(bodyStatement, { minLength: 1, maxLength: 3 }), fc.nat())
    .map(([body, n]) => `create trigger tr${n} after insert on t when new.begin > 0 begin ${body.join('; ')}; end`),
)
const statement = fc.oneof(generated, fc.constantFrom('select begin, end, trigger from t', 'update t set end = end + 1, begin = 2'))
const gap = fc.constantFrom('\n', ' ', '', '\n\n', ' -- after; this\n', '/* between; */ ', '\t;\n')
const script = fc
  .array(fc.tuple(statement, gap), { minLength: 1, maxLength: 6 })
  .map((list) => ({ list: list.map(([s]) => s.trim()), text: list.map(([s, g]) => `${s};${g}`).join('') }))

describe('the splitter against SQLite', () => {
  it('cuts the corpus into statements that SQLite compiles one at a time and runs in order', () => {
    const db = new Database(':memory:')
    for (const statement of ours(sqliteCorpus.join(';\n'))) expect(() => compile(db, statement, true), statement).not.toThrow()
    db.close()
  })

  it('gives back any list of statements joined with ; and whitespace or comments between', () => {
    fc.assert(
      fc.property(script, ({ list, text }) => {
        expect(ours(text)).toEqual(list)
      }),
      { numRuns: 400 },
    )
  })

  it('cuts any generated script into statements that SQLite compiles one at a time', () => {
    const db = new Database(':memory:')
    db.exec('create table t (id integer primary key, begin int, end int, trigger text)')
    fc.assert(
      fc.property(script, ({ text }) => {
        for (const statement of ours(text)) compile(db, statement, false)
      }),
      { numRuns: 300 },
    )
    db.close()
  })
})
