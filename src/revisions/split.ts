/** One SQL statement of a revision, with the 1-based line of the file where it starts. */
export interface Statement {
  text: string
  line: number
}

/** The lexical features that differ between the databases we split for. */
export interface SqlSyntax {
  /** PostgreSQL `$tag$ … $tag$` strings. */
  dollarQuotes: boolean
  /** SQLite/SQL Server `[identifier]`. */
  brackets: boolean
  /** Nested block comments (PostgreSQL). */
  nestedComments: boolean
}

// Character tests by code: the splitter runs over every revision on every boot.
const isWordCode = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95
const isWordChar = (c: string) => c.length > 0 && isWordCode(c.charCodeAt(0))
const isSpaceCode = (c: number) => c === 32 || (c >= 9 && c <= 13)

/**
 * Splits SQL text on top-level semicolons. Quotes, comments, dollar-quoted bodies and
 * `BEGIN … END` blocks (SQLite trigger bodies, PostgreSQL `BEGIN ATOMIC`) are kept whole.
 * `firstLine` is the file line on which `sql` begins, so statements keep file positions.
 */
export function splitStatements(sql: string, syntax: SqlSyntax, firstLine = 1): Statement[] {
  const out: Statement[] = []
  let i = 0
  let line = firstLine
  let start = -1
  let startLine = firstLine
  let depth = 0
  let words: string[] = []

  const flush = (end: number) => {
    if (start >= 0) {
      const text = sql.slice(start, end).trim()
      if (text) out.push({ text, line: startLine })
    }
    start = -1
    depth = 0
    words = []
  }
  const mark = () => {
    if (start < 0) {
      start = i
      startLine = line
    }
  }
  // Advances past `len` characters, counting newlines.
  const skip = (to: number) => {
    for (; i < to && i < sql.length; i++) if (sql[i] === '\n') line++
  }

  while (i < sql.length) {
    const c = sql[i]!
    const n = sql[i + 1]
    if (c === '-' && n === '-') {
      const e = sql.indexOf('\n', i)
      skip(e < 0 ? sql.length : e)
      continue
    }
    if (c === '/' && n === '*') {
      let level = 0
      let j = i
      while (j < sql.length) {
        if (sql[j] === '/' && sql[j + 1] === '*') { level++; j += 2; continue }
        if (sql[j] === '*' && sql[j + 1] === '/') { level--; j += 2; if (level === 0 || !syntax.nestedComments) break; continue }
        j++
      }
      skip(j)
      continue
    }
    if (c === ';' && depth === 0) {
      flush(i)
      i++
      continue
    }
    if (isSpaceCode(sql.charCodeAt(i))) {
      if (c === '\n') line++
      i++
      continue
    }
    mark()
    if (c === "'" || c === '"' || c === '`' || (c === '[' && syntax.brackets)) {
      const close = c === '[' ? ']' : c
      // E'…' strings take backslash escapes.
      const backslash = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !isWordChar(sql[i - 2] ?? ' ')
      let j = i + 1
      while (j < sql.length) {
        if (backslash && sql[j] === '\\') { j += 2; continue }
        if (sql[j] === close) {
          if (sql[j + 1] === close && close !== ']') { j += 2; continue }
          break
        }
        j++
      }
      skip(j + 1)
      continue
    }
    if (c === '$' && syntax.dollarQuotes && !isWordChar(sql[i - 1] ?? ' ')) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64))
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length)
        skip(end < 0 ? sql.length : end + m[0].length)
        continue
      }
    }
    if (isWordCode(sql.charCodeAt(i))) {
      let j = i
      while (j < sql.length && isWordCode(sql.charCodeAt(j))) j++
      const word = sql.slice(i, j).toUpperCase()
      words.push(word)
      if (word === 'BEGIN' && words.length > 1) {
        // A block only when the statement creates a trigger (SQLite) or the body is BEGIN ATOMIC.
        const rest = /^\s*(\w+)/.exec(sql.slice(j, j + 32))?.[1]?.toUpperCase()
        if (rest === 'ATOMIC' || words.includes('TRIGGER') || depth > 0) depth++
      } else if (word === 'CASE' && depth > 0) depth++
      else if (word === 'END' && depth > 0) depth--
      skip(j)
      continue
    }
    i++
  }
  flush(sql.length)
  return out
}
