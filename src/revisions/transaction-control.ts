import { commentEnd, isIdentPart, isIdentStart, quotedEnd, type SqlSyntax } from './split.js'

/** A statement that starts, ends or otherwise steers a transaction. */
export interface TxControl {
  kind: 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback-to' | 'prepare'
  /** The statement's leading keywords, uppercased and single-spaced, e.g. "COMMIT AND CHAIN". Names, literals and BEGIN's transaction modes are left out. */
  keyword: string
}

// psql meta-commands only exist next to PostgreSQL, so their leading comments follow its rules.
const PG_SYNTAX: SqlSyntax = { dollarQuotes: true, brackets: false, nestedComments: true }

// Character tests by code: these run over every statement of every revision.
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)
// PostgreSQL identifiers take any non-ASCII letter and a `$` after the first character.
const isWordStart = (c: number) => isIdentStart(c) || (c >= 48 && c <= 57)
const isWordPart = isIdentPart

/** Index just past the comment that starts at `i`, or `i` when none does. An unclosed comment runs to the end (the splitter has reported it). */
function skipComment(text: string, i: number, syntax: SqlSyntax): number {
  const end = commentEnd(text, i, syntax)
  return end < 0 ? text.length : end
}

/**
 * Index just past the string, quoted identifier or dollar-quoted body that starts at `i`, or `i`
 * when none does: the splitter's own rules, so both agree on where quotes end.
 */
function skipQuoted(text: string, i: number, syntax: SqlSyntax): number {
  const end = quotedEnd(text, i, syntax)
  return end < 0 ? text.length : end
}

/**
 * Feeds `visit` the tokens of `text` from `from`, skipping whitespace and comments, until it returns
 * false. Words (keywords and bare names) come uppercased; quoted tokens come whole and as written,
 * so they never equal a keyword; anything else comes one character at a time.
 */
function scan(text: string, syntax: SqlSyntax, from: number, visit: (token: string, at: number) => boolean): void {
  let i = from
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    const comment = skipComment(text, i, syntax)
    if (comment > i) {
      i = comment
      continue
    }
    let end = skipQuoted(text, i, syntax)
    let token: string
    if (end > i) token = text.slice(i, end)
    else if (isWordStart(c)) {
      end = i + 1
      while (end < text.length && isWordPart(text.charCodeAt(end))) end++
      token = text.slice(i, end).toUpperCase()
    } else {
      end = i + 1
      token = text[i]!
    }
    if (!visit(token, i)) return
    i = end
  }
}

/** The first `max` tokens of `text` (see `scan`). Only a statement's head decides what it is, so the rest is never read. */
function leadingTokens(text: string, syntax: SqlSyntax, max: number): string[] {
  const out: string[] = []
  scan(text, syntax, 0, (t) => out.push(t) < max)
  return out
}

/** Index of the first character that is neither whitespace nor inside a comment. */
function skipBlank(text: string, syntax: SqlSyntax): number {
  let i = 0
  while (i < text.length) {
    if (isSpace(text.charCodeAt(i))) i++
    else {
      const next = skipComment(text, i, syntax)
      if (next === i) return i
      i = next
    }
  }
  return i
}

/**
 * `text` without its comments and with each run of whitespace (comments included, as the databases
 * read them) collapsed to one space, trimmed. Quoted strings, identifiers and dollar-quoted bodies
 * are copied untouched, comment-like text in them too.
 */
export function stripComments(text: string, syntax: SqlSyntax): string {
  const parts: string[] = []
  let run = -1 // start of the pending stretch of code to copy
  let gap = false // whitespace or a comment since the last copied code
  let i = 0
  const flush = () => {
    if (run >= 0) parts.push(text.slice(run, i))
    run = -1
  }
  while (i < text.length) {
    const after = isSpace(text.charCodeAt(i)) ? i + 1 : skipComment(text, i, syntax)
    if (after > i) {
      flush()
      gap = true
      i = after
      continue
    }
    if (run < 0) {
      if (gap && parts.length) parts.push(' ')
      gap = false
      run = i
    }
    const quoted = skipQuoted(text, i, syntax)
    i = quoted > i ? quoted : i + 1
  }
  flush()
  return parts.join('')
}

/**
 * True when `text` starts (at its first character) with a word that is none of `words`: its first token is then
 * that word, so the statement is none of theirs. A cheap test run before the tokenizer, on every statement that
 * runs; anything else (blank space, a comment, a quote first) is left to the tokenizer.
 */
function startsWithOther(text: string, words: ReadonlySet<string>): boolean {
  const m = /^[A-Za-z_]+/.exec(text)
  return m !== null && !words.has(m[0].toUpperCase())
}
const TX_WORDS = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE'])
const COPY_WORD = new Set(['COPY'])
const ALTER_WORD = new Set(['ALTER'])

/**
 * What the statement does to the transaction it runs in, read from its leading keywords only (a
 * later `END` of a CASE or `BEGIN` of a trigger body does not count), or undefined when it leaves
 * the transaction alone. Covers PostgreSQL's and SQLite's transaction statements in any case and
 * with comments anywhere between the keywords.
 */
export function transactionControl(text: string, syntax: SqlSyntax): TxControl | undefined {
  if (startsWithOther(text, TX_WORDS)) return undefined
  // Six tokens reach past the longest head: ROLLBACK TRANSACTION name TO SAVEPOINT x.
  const tokens = leadingTokens(text, syntax, 6)
  const head: string[] = []
  let at = 0
  const accept = (...words: string[]): string | undefined => {
    const t = tokens[at]
    if (t === undefined || !words.includes(t)) return undefined
    head.push(t)
    at++
    return t
  }
  const result = (kind: TxControl['kind']): TxControl => ({ kind, keyword: head.join(' ') })

  // No statement starts with a bare name, so the first word alone tells a transaction statement
  // from `CREATE TABLE begin`, `SELECT 'commit'` or `beginning`.
  const first = accept('BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'SAVEPOINT', 'RELEASE', 'PREPARE')
  switch (first) {
    case undefined:
      return undefined
    case 'BEGIN':
      // BEGIN ATOMIC opens an SQL-standard function body, not a transaction.
      if (tokens[at] === 'ATOMIC') return undefined
      accept('DEFERRED', 'IMMEDIATE', 'EXCLUSIVE') // SQLite's locking modes
      accept('WORK', 'TRANSACTION')
      return result('begin')
    case 'START':
      return accept('TRANSACTION') ? result('begin') : undefined
    case 'SAVEPOINT':
      return result('savepoint')
    case 'RELEASE':
      accept('SAVEPOINT')
      return result('release')
    case 'PREPARE':
      // PREPARE name AS … is a prepared statement; only PREPARE TRANSACTION is two-phase commit.
      return accept('TRANSACTION') ? result('prepare') : undefined
  }
  // COMMIT, END, ROLLBACK, ABORT.
  if ((first === 'COMMIT' || first === 'ROLLBACK') && accept('PREPARED')) return result('prepare')
  // SQLite takes (and ignores) a name after TRANSACTION: ROLLBACK TRANSACTION t TO s is valid there.
  const next = accept('WORK', 'TRANSACTION') === 'TRANSACTION' ? tokens[at] : undefined
  if (next !== undefined && next !== 'TO' && next !== 'AND' && isName(next)) at++
  if (first === 'ROLLBACK' && accept('TO')) {
    accept('SAVEPOINT')
    return result('rollback-to')
  }
  if (accept('AND')) {
    accept('NO')
    accept('CHAIN')
  }
  return result(first === 'COMMIT' || first === 'END' ? 'commit' : 'rollback')
}

/** A token that can name something: a word or a quoted name (SQLite also takes a string). */
const isName = (token: string) => isWordStart(token.charCodeAt(0)) || token[0] === '"' || token[0] === "'" || token[0] === '`' || token[0] === '['

/**
 * Whether the statement is a COPY that streams through the client connection, which a migration
 * cannot feed: `COPY … FROM STDIN` or `COPY … TO STDOUT` (PostgreSQL takes either of STDIN and
 * STDOUT with either direction and goes by FROM/TO), or psql's `\copy` with stdin/stdout/pstdin/pstdout.
 * COPY from or to a file or a program is left alone.
 */
export function copyStdio(text: string, syntax: SqlSyntax): 'from-stdin' | 'to-stdout' | undefined {
  if (startsWithOther(text, COPY_WORD)) return undefined
  const meta = metaCommand(text)
  let body = text
  let from = 0
  let targets = ['STDIN', 'STDOUT']
  if (meta) {
    // psql reads \copy case-insensitively, and its arguments end with the line.
    if (meta.command.toLowerCase() !== '\\copy') return undefined
    const eol = text.indexOf('\n', meta.end)
    if (eol >= 0) body = text.slice(0, eol)
    from = meta.end
    targets = ['STDIN', 'STDOUT', 'PSTDIN', 'PSTDOUT']
  } else if (leadingTokens(text, syntax, 1)[0] !== 'COPY') return undefined
  // The first FROM or TO outside parentheses (which hold column lists and the query form's query)
  // gives the direction; the token after it, the source or destination.
  let depth = 0
  let direction: 'FROM' | 'TO' | undefined
  let found: 'from-stdin' | 'to-stdout' | undefined
  scan(body, syntax, from, (t) => {
    if (direction) {
      if (targets.includes(t)) found = direction === 'FROM' ? 'from-stdin' : 'to-stdout'
      return false
    }
    if (t === '(') depth++
    else if (t === ')') depth--
    else if (depth === 0 && (t === 'FROM' || t === 'TO')) direction = t
    return true
  })
  return found
}

/** The psql meta-command the statement starts with (after comments), and the index just past its name. */
function metaCommand(text: string): { command: string; end: number } | undefined {
  const start = skipBlank(text, PG_SYNTAX)
  if (text[start] !== '\\') return undefined
  // psql reads the name up to whitespace or the next backslash: \c, \connect, \dt+, \. (end of COPY data).
  let end = start + 1
  while (end < text.length && text[end] !== '\\' && !isSpace(text.charCodeAt(end))) end++
  return end > start + 1 ? { command: text.slice(start, end), end } : undefined
}

/**
 * The psql meta-command (e.g. "\\connect", "\\set", "\\.") that the statement starts with after
 * comments, as written, or undefined. boot-migrate talks to the server directly, so no psql runs these.
 */
export function psqlMetaCommand(text: string): string | undefined {
  return metaCommand(text)?.command
}

/** The value of a string token ('…' with '' for a quote), or undefined for any other token. */
const stringValue = (token: string | undefined) => (token?.[0] === "'" ? token.slice(1, -1).replace(/''/g, "'") : undefined)

/**
 * The enum value that `ALTER TYPE name ADD VALUE [IF NOT EXISTS] 'value' …` adds, or undefined for
 * any other statement.
 */
export function enumValueAdded(text: string, syntax: SqlSyntax): string | undefined {
  if (startsWithOther(text, ALTER_WORD)) return undefined
  // ALTER TYPE schema . name ADD VALUE IF NOT EXISTS 'value': eleven tokens at most.
  const t = leadingTokens(text, syntax, 11)
  if (t[0] !== 'ALTER' || t[1] !== 'TYPE') return undefined
  const add = t.indexOf('ADD', 3)
  if (add < 0 || t[add + 1] !== 'VALUE') return undefined
  const k = t[add + 2] === 'IF' && t[add + 3] === 'NOT' && t[add + 4] === 'EXISTS' ? add + 5 : add + 2
  return stringValue(t[k])
}

/**
 * The string literals a statement could read as values, each with its offset in `text`: those
 * outside comments, and those in the body of a DO block (which runs at once). Function bodies are
 * left out (PL/pgSQL reads them when called), and so are ALTER TYPE statements, which may name an
 * enum value added in the same transaction (ADD VALUE … AFTER, RENAME VALUE) without reading it.
 */
export function stringLiterals(text: string, syntax: SqlSyntax): Array<{ value: string; at: number }> {
  const out: Array<{ value: string; at: number }> = []
  let first: string | undefined
  let second: string | undefined
  scan(text, syntax, 0, (token, at) => {
    if (first === undefined) first = token
    else if (second === undefined) second = token
    if (first === 'ALTER' && second === 'TYPE') return false
    const value = stringValue(token)
    if (value !== undefined) out.push({ value, at })
    else if (first === 'DO' && token[0] === '$') {
      // DO $tag$ body $tag$: the literals in the body, at their place in the statement.
      const tag = token.slice(0, token.indexOf('$', 1) + 1)
      const body = token.slice(tag.length, -tag.length)
      for (const inner of stringLiterals(body, syntax)) out.push({ value: inner.value, at: at + tag.length + inner.at })
    }
    return true
  })
  return out
}
