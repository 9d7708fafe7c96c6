import fc from 'fast-check'
import { loadModule, parseSync } from 'libpg-query'
import { beforeAll, describe, expect, it } from 'vitest'
import { createMigrator } from '../src/index.js'
import { splitStatements, type SqlSyntax } from '../src/revisions/split.js'
import { client, freshDatabase, revisions } from './helpers.js'
import { pgCorpus } from './split-corpus.js'

const pg: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }
const ours = (sql: string) => splitStatements(sql, pg).map((s) => s.text)

/** The statements PostgreSQL's own parser finds in `sql`, cut where it says they start and end. */
function theirs(sql: string): string[] {
  // Locations are byte offsets into the UTF-8 text; the first statement's location and the last one's length may be absent.
  const bytes = Buffer.from(sql, 'utf8')
  return (parseSync(sql).stmts ?? []).map((s) => {
    const from = s.stmt_location ?? 0
    return bytes.subarray(from, s.stmt_len ? from + s.stmt_len : bytes.length).toString('utf8').trim()
  })
}

beforeAll(async () => {
  await loadModule()
})

// Generated statements that PostgreSQL's grammar accepts, built from the lexical forms that can hold a `;`.
const alphabet = fc.constantFrom('a', 'b', ' ', ';', "'", '"', '$', '-', '/', '*', '\\', '(', ')', '\n', 'ç', '€', '😀', 'end', 'begin')
const content = fc.array(alphabet, { maxLength: 12 }).map((a) => a.join(''))
const tag = fc.constantFrom('', 'a', 'função', '_1', 'x9', 'END')
const expr: fc.Arbitrary<string> = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('1', 'begin', 'trigger', 'atomic', 'x1', 'café', 'a$b$', '$1', '"end"', '"case"'),
    content.map((s) => `'${s.replace(/'/g, "''")}'`),
    content.map((s) => `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`),
    content.filter((s) => s.length > 0).map((s) => `"${s.replace(/"/g, '""')}"`),
    fc
      .tuple(tag, content)
      .map(([t, s]) => [`$${t}$`, s] as const)
      .filter(([d, s]) => !`${s}${d}`.slice(0, -1).includes(d) && !s.endsWith('$') && !(d + s + d).slice(1, -1).includes(d))
      .map(([d, s]) => `${d}${s}${d}`),
    content.filter((s) => !s.includes('*/') && !s.includes('/*') && !s.endsWith('/') && !s.startsWith('*')).map((s) => `/*${s}*/ 1`),
    content.filter((s) => !s.includes('\n')).map((s) => `1 --${s}\n`),
    tie('expr').map((e) => `(${e})`),
    fc.tuple(tie('expr'), tie('expr')).map(([a, b]) => `case when ${a} is null then ${b} end`),
  ),
})).expr
const exprs = fc.array(expr, { minLength: 1, maxLength: 4 }).map((a) => a.join(', '))
const generated = fc.oneof(
  exprs.map((e) => `select ${e}`),
  fc.tuple(exprs, exprs).map(([a, b]) => `create rule r as on insert to t do also (select ${a}; select ${b})`),
  fc.tuple(exprs, exprs).map(([a, b]) => `create function f() returns int language sql begin atomic select ${a}; select ${b}; end`),
  fc.constant('create table t (id int, trigger text, begin int, atomic int)'),
  fc
    .tuple(exprs, exprs)
    .filter(([a, b]) => !`${a}${b}`.includes('$outer$'))
    .map(([a, b]) => `do $outer$ begin perform ${a}; perform ${b}; end $outer$`),
)
const statement = fc.oneof(fc.constantFrom(...pgCorpus), generated)
const gap = fc.constantFrom('\n', ' ', '', '\n\n', ' -- after; this\n', '/* between; /* nested */ */ ', '\t;\n')
const script = fc
  .array(fc.tuple(statement, gap), { minLength: 1, maxLength: 8 })
  .chain((list) => fc.boolean().map((last) => ({ list: list.map(([s]) => s.trim()), text: list.map(([s, g], i) => `${s};${i < list.length - 1 || last ? g : ''}`).join('') })))

describe('the splitter against PostgreSQL’s own parser', () => {
  it('cuts every statement of the corpus where PostgreSQL does, each alone', () => {
    for (const statement of pgCorpus) expect(ours(statement), statement).toEqual(theirs(statement))
  })

  it('cuts the whole corpus where PostgreSQL does', () => {
    const text = pgCorpus.join(';\n')
    expect(ours(text)).toEqual(theirs(text))
  })

  it('gives back any list of statements joined with ; and whitespace or comments between', () => {
    fc.assert(
      fc.property(script, ({ list, text }) => {
        expect(ours(text)).toEqual(list)
      }),
      { numRuns: 400 },
    )
  })

  it('cuts any generated script where PostgreSQL does', () => {
    fc.assert(
      fc.property(script, ({ text }) => {
        expect(ours(text)).toEqual(theirs(text))
      }),
      { numRuns: 400 },
    )
  })

  it('gives each statement of a generated script the line it starts on', () => {
    fc.assert(
      fc.property(script, fc.integer({ min: 1, max: 1000 }), ({ text }, first) => {
        let from = 0
        for (const st of splitStatements(text, pg, first)) {
          const at = text.indexOf(st.text, from)
          from = at + st.text.length
          expect(st.line).toBe(first + (text.slice(0, at).match(/\n/g)?.length ?? 0))
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('split revisions on PostgreSQL', () => {
  it('applies the whole corpus as one revision file', async () => {
    const url = await freshDatabase()
    const dir = await revisions({ '0001_corpus.sql': `-- migrate:up\n${pgCorpus.join(';\n\n')};\n` })
    await expect(createMigrator({ url, dir, logger: false }).run()).resolves.toMatchObject({ applied: [{ id: '0001' }] })
    const sql = client(url)
    expect(await sql`select count(*)::int as n from pg_proc where proname in ('touch', 'classify', 'loops', 'atomic_one', 'atomic_proc', 'atomic_ends')`).toEqual([{ n: 6 }])
    expect(await sql`select count(*)::int as n from pg_rules where rulename = 'log_insert'`).toEqual([{ n: 1 }])
  })

  it('runs a no-transaction file with columns named trigger and begin one statement at a time', async () => {
    const url = await freshDatabase()
    const dir = await revisions({
      '0001_events.sql':
        '-- migrate:up\n-- migrate:no-transaction\ncreate table events (id int primary key, trigger text, begin int);\n' +
        "insert into events (id, trigger, begin) values (1, 'a', 1);\ncreate index concurrently events_begin on events (begin);\n",
    })
    await expect(createMigrator({ url, dir, logger: false }).run()).resolves.toMatchObject({ applied: [{ id: '0001' }] })
    const sql = client(url)
    expect(await sql`select id, trigger, begin from events`).toEqual([{ id: 1, trigger: 'a', begin: 1 }])
    expect(await sql`select indisvalid from pg_index where indexrelid = 'events_begin'::regclass`).toEqual([{ indisvalid: true }])
    expect(await sql`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'applied' }])
  })
})
