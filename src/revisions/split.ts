/** One SQL statement of a revision, with the 1-based line of the file where it starts. */
export interface Statement {
  text: string
  line: number
  /**
   * Set when the text cannot be cut into statements safely: a comment, string, quoted identifier,
   * dollar quote, parenthesis or `BEGIN … END` body that is never closed. The statement then runs to
   * the end of the text and is the last one. `line` is where the unclosed part opens; `message` says
   * what is wrong and what to do. validate() refuses the revision before anything runs.
   */
  problem?: { line: number; message: string }
}

/** The lexical features that differ between the databases we split for. */
export interface SqlSyntax {
  /** PostgreSQL `$tag$ … $tag$` strings. */
  dollarQuotes: boolean
  /** SQLite/SQL Server `[identifier]`. */
  brackets: boolean
  /** Nested block comments (PostgreSQL). */
  nestedComments: boolean
  /** MySQL `# comment` to the end of the line. */
  hashComments?: boolean
  /** MySQL: a backslash escapes the next character in '…' and "…" strings. */
  backslashEscapes?: boolean
  /**
   * MySQL compound statements: the `BEGIN … END` body of a trigger, procedure, function or event nests
   * (`BEGIN … END`, `IF … END IF`, `LOOP`, `WHILE`, `REPEAT`, `CASE`, `FOR`), and only the outermost END closes it.
   */
  compoundBodies?: boolean
}

// Character tests by code: the splitter runs over every revision on every boot.
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13)
/** Starts an identifier or keyword: a letter, `_` or any non-ASCII character (PostgreSQL's and SQLite's rule). */
export const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128
const isDigit = (c: number) => c >= 48 && c <= 57
/** Continues one: also digits and `$`. */
export const isIdentPart = (c: number) => isIdentStart(c) || isDigit(c) || c === 36

/**
 * Index just past the comment that starts at `i`, `i` when none starts there, -1 when it is never
 * closed. A `--` comment ends before its newline; `/* … *\/` nests when the syntax says so.
 */
export function commentEnd(text: string, i: number, syntax: SqlSyntax): number {
  const c = text.charCodeAt(i)
  if ((c === 45 && text.charCodeAt(i + 1) === 45) || (c === 35 && syntax.hashComments)) {
    const e = text.indexOf('\n', i + 1)
    return e < 0 ? text.length : e
  }
  if (c !== 47 || text.charCodeAt(i + 1) !== 42) return i
  if (!syntax.nestedComments) {
    const e = text.indexOf('*/', i + 2)
    return e < 0 ? -1 : e + 2
  }
  let level = 1
  let j = i + 2
  while (j < text.length) {
    const d = text.charCodeAt(j)
    if (d === 42 && text.charCodeAt(j + 1) === 47) {
      j += 2
      if (--level === 0) return j
    } else if (d === 47 && text.charCodeAt(j + 1) === 42) {
      level++
      j += 2
    } else j++
  }
  return -1
}

/**
 * The dollar-quote delimiter (`$$`, `$tag$`) that starts at `i`, or undefined. Tags follow
 * PostgreSQL's rule: letters (any non-ASCII character counts as one), `_`, and digits after the
 * first; a `$` that continues an identifier (`a$b$`) or a parameter (`$1`) opens nothing.
 */
export function dollarTag(text: string, i: number, syntax: SqlSyntax): string | undefined {
  if (!syntax.dollarQuotes || text.charCodeAt(i) !== 36 || (i > 0 && isIdentPart(text.charCodeAt(i - 1)))) return undefined
  let j = i + 1
  if (isIdentStart(text.charCodeAt(j))) {
    j++
    while (j < text.length && (isIdentStart(text.charCodeAt(j)) || isDigit(text.charCodeAt(j)))) j++
  }
  return text.charCodeAt(j) === 36 ? text.slice(i, j + 1) : undefined
}

/** Whether the `'` at `i` opens a PostgreSQL E'…' string, in which a backslash escapes the next character. */
const isEString = (text: string, i: number) => {
  const e = text.charCodeAt(i - 1)
  return (e === 69 || e === 101) && !(i > 1 && isIdentPart(text.charCodeAt(i - 2)))
}

/**
 * Index just past the string ('…' with '' inside, E'…' with backslash escapes), quoted identifier
 * ("…", `…`, [ … ] where the syntax has them) or dollar-quoted text that starts at `i`; `i` when none
 * starts there; -1 when it is never closed.
 */
export function quotedEnd(text: string, i: number, syntax: SqlSyntax): number {
  const c = text.charCodeAt(i)
  if (c === 36) {
    const tag = dollarTag(text, i, syntax)
    if (!tag) return i
    const e = text.indexOf(tag, i + tag.length)
    return e < 0 ? -1 : e + tag.length
  }
  if (c === 91) {
    if (!syntax.brackets) return i
    const e = text.indexOf(']', i + 1)
    return e < 0 ? -1 : e + 1
  }
  if (c !== 39 && c !== 34 && c !== 96) return i
  const close = text[i]!
  if ((c === 39 && isEString(text, i)) || (c !== 96 && syntax.backslashEscapes)) {
    for (let j = i + 1; j < text.length; j++) {
      const d = text.charCodeAt(j)
      if (d === 92) j++
      else if (d === c) {
        if (text.charCodeAt(j + 1) !== c) return j + 1
        j++
      }
    }
    return -1
  }
  let j = i + 1
  for (;;) {
    const e = text.indexOf(close, j)
    if (e < 0) return -1
    if (text.charCodeAt(e + 1) !== c) return e + 1
    j = e + 2 // a doubled quote stands for one
  }
}

/** What to say about a quote, comment or block opened at `i` of `text` and never closed. */
function unclosed(text: string, i: number, syntax: SqlSyntax): string {
  const rest = 'so the rest of the text would be read as part of it'
  const c = text[i]
  if (c === '/')
    return `this /* comment is never closed, ${rest} and never run. Close it with */${syntax.nestedComments ? ' (comments nest here: every /* inside it needs its own */)' : ''}.`
  if (c === '$') {
    const tag = dollarTag(text, i, syntax)!
    return `the dollar-quoted text opened here with ${tag} is never closed, ${rest}. Close it with the same ${tag}.`
  }
  if (c === "'")
    return isEString(text, i)
      ? `this E'…' string is never closed, ${rest}. Close it with ' (inside it, write a quote as \\' or '').`
      : `this string is never closed, ${rest}. Close it with ' (inside a string, write a quote as '').`
  const close = c === '[' ? ']' : c
  return `this identifier quoted with ${c} is never closed, ${rest}. Close it with ${close}${close === ']' ? '' : ` (inside it, write ${c} as ${c}${c})`}.`
}

/** What opens a block inside a MySQL compound body, at the start of one of its statements. */
const BLOCKS = new Set(['IF', 'LOOP', 'WHILE', 'REPEAT', 'CASE', 'FOR'])

// Tokens after which a BEGIN in a CREATE TRIGGER names something (the trigger, its table, a column,
// a function) instead of opening the trigger's body.
const NAMES_NEXT = new Set(['TRIGGER', 'EXISTS', 'ON', 'OF', ',', '.', 'AS', 'FUNCTION', 'PROCEDURE', 'FROM', 'TABLE'])

/** What a statement's first tokens make it, for the `BEGIN … END` bodies only some statements have. */
function kindOf(head: string[]): 'trigger' | 'routine' | 'compound' | undefined {
  if (head[0] !== 'CREATE') return undefined
  let k = 1
  if (head[k] === 'OR' && head[k + 1] === 'REPLACE') k += 2
  // MySQL: CREATE DEFINER = user[@host] TRIGGER/PROCEDURE/FUNCTION/EVENT.
  if (head[k] === 'DEFINER' && head[k + 1] === '=') {
    k += 3
    if (head[k] === '@') k += 2
    if (head[k] === '(' && head[k + 1] === ')') k += 2 // CURRENT_USER()
    const w = head[k]
    return w === 'TRIGGER' || w === 'PROCEDURE' || w === 'FUNCTION' || w === 'EVENT' ? 'compound' : undefined
  }
  if (head[k] === 'AGGREGATE' || head[k] === 'EVENT') return 'compound'
  if (head[k] === 'TEMP' || head[k] === 'TEMPORARY') k++
  if (head[k] === 'CONSTRAINT') k++
  const w = head[k]
  return w === 'TRIGGER' ? 'trigger' : w === 'FUNCTION' || w === 'PROCEDURE' ? 'routine' : undefined
}

/**
 * Splits SQL text on the semicolons that end statements. Quotes, comments and dollar-quoted bodies
 * are kept whole; so is anything in parentheses (a rule's `DO ALSO (a; b)`) and the `BEGIN … END`
 * body of a SQLite trigger or a PostgreSQL `BEGIN ATOMIC` routine, whose statements each end with
 * `;` and whose `END` comes where a next statement would start (so a `CASE … END` or a column
 * named `end` inside never closes it). `BEGIN` opens a body only in those two statements, so
 * columns named `begin`, `trigger`, `end` or `case` elsewhere change nothing.
 *
 * A backslash outside quotes starts a psql meta-command (`\set`, `\connect`): it ends the statement
 * before it and makes the rest of its line a statement of its own, for validate() to refuse.
 *
 * `firstLine` is the file line on which `sql` begins, so statements keep file positions. Something
 * never closed (a quote, a comment, a parenthesis, a body) makes the rest of the text one last
 * statement carrying a `problem`.
 */
export function splitStatements(sql: string, syntax: SqlSyntax, firstLine = 1): Statement[] {
  const out: Statement[] = []
  const len = sql.length
  // Lines are counted lazily, up to where a statement or problem starts.
  let line = firstLine
  let counted = 0
  const lineAt = (to: number) => {
    for (; counted < to; counted++) if (sql.charCodeAt(counted) === 10) line++
    let back = line // a problem can point back, at a parenthesis or BEGIN already passed
    for (let k = to; k < counted; k++) if (sql.charCodeAt(k) === 10) back--
    return back
  }

  let start = -1 // where the current statement starts, or -1 between statements
  let startLine = firstLine
  let depth = 0 // parentheses open
  let parenAt = -1 // where the outermost open one opened
  let head: string[] = [] // the statement's first tokens, words uppercased
  let body = -1 // where the open BEGIN … END body's BEGIN is, or -1
  let bodyNext = false // inside a body, the next token starts one of its statements
  let prev = '' // the previous token, words uppercased
  let prevAt = 0
  let level = 0 // blocks open inside a compound body (compoundBodies)
  let prevStart = false // the previous token started a statement of a body

  const flush = (end: number, problem?: Statement['problem']) => {
    if (start >= 0) {
      const text = sql.slice(start, end).trim()
      if (text || problem) out.push(problem ? { text, line: startLine, problem } : { text, line: startLine })
    }
    start = -1
    depth = 0
    head = []
    body = -1
    prev = ''
  }
  // Something opened at `at` is never closed: the rest is one statement that validate() refuses.
  const fail = (at: number, message: string): Statement[] => {
    if (start < 0) {
      start = at
      startLine = lineAt(at)
    }
    flush(len, { line: lineAt(at), message })
    return out
  }

  let i = 0
  while (i < len) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    if (c === 59) {
      i++
      if (depth > 0) continue
      if (body < 0) flush(i - 1)
      else bodyNext = true
      prev = ';'
      continue
    }
    const comment = commentEnd(sql, i, syntax)
    if (comment !== i) {
      if (comment < 0) return fail(i, unclosed(sql, i, syntax))
      i = comment
      continue
    }
    if (c === 92) {
      // psql reads a backslash outside quotes as a meta-command that runs to the end of the line.
      flush(i)
      let e = sql.indexOf('\n', i)
      if (e < 0) e = len
      out.push({ text: sql.slice(i, e).trim(), line: lineAt(i) })
      i = e
      continue
    }
    if (start < 0) {
      start = i
      startLine = lineAt(i)
    }
    const quoted = quotedEnd(sql, i, syntax)
    let token: string
    let end: number
    if (quoted !== i) {
      if (quoted < 0) return fail(i, unclosed(sql, i, syntax))
      token = "'"
      end = quoted
    } else if (isIdentStart(c) || isDigit(c)) {
      end = i + 1
      while (end < len && isIdentPart(sql.charCodeAt(end))) end++
      // Only short words can be keywords; longer ones are never uppercased.
      token = isDigit(c) ? '0' : end - i <= 10 ? sql.slice(i, end).toUpperCase() : '_'
      if (depth === 0) {
        if (body >= 0 && syntax.compoundBodies) {
          if (token === 'BEGIN' && prev !== '.') level++
          else if (bodyNext && BLOCKS.has(token)) level++
          else if ((bodyNext && token === 'END') || (token === 'REPEAT' && prev === 'END' && !prevStart)) {
            if (--level === 0) body = -1
          }
        } else if (body >= 0) {
          if (bodyNext && token === 'END') body = -1
        } else if (syntax.compoundBodies && token === 'BEGIN' && !NAMES_NEXT.has(prev) && kindOf(head) !== undefined) {
          body = i
          level = 1
          token = ';'
        } else if (token === 'BEGIN' && !NAMES_NEXT.has(prev) && kindOf(head) === 'trigger') {
          body = i
          token = ';' // the body's first statement starts next
        } else if (token === 'ATOMIC' && prev === 'BEGIN' && kindOf(head) === 'routine') {
          body = prevAt
          token = ';'
        }
      }
    } else {
      end = i + 1
      token = sql[i]!
      if (c === 40 && depth++ === 0) parenAt = i
      else if (c === 41 && depth > 0) depth--
    }
    if (head.length < 10) head.push(token)
    // A label (`outer: LOOP`) keeps the statement's start after its colon.
    const labelled: boolean = !!syntax.compoundBodies && token === ':' && prevStart && isIdentStart(prev.charCodeAt(0))
    prevStart = bodyNext
    bodyNext = token === ';' || !!labelled
    prev = token
    prevAt = i
    i = end
  }
  if (depth > 0) return fail(parenAt, 'this ( is never closed, so the statements after it would be read as part of this one. Close it with ).')
  if (body >= 0)
    return fail(
      body,
      'this BEGIN … END body never ends, so the statements after it would be read as part of it. End every statement in the body with ";" and the body with END.',
    )
  flush(len)
  return out
}
