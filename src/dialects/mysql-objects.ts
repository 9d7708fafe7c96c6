/** A schema object a DDL statement names: what `SHOW CREATE <kind>` reads back. */
export interface NamedObject {
  kind: 'table' | 'trigger' | 'procedure' | 'function' | 'event'
  /** The name's parts (`db`.`t` is two), unquoted. */
  name: string[]
}

type Token = { word: string; quoted: boolean }

/** Words and identifiers (dots and commas kept as tokens), with comments and string literals left out. */
function tokens(sql: string): Array<Token | '.' | ','> {
  const out: Array<Token | '.' | ','> = []
  const re = /\/\*[\s\S]*?\*\/|--[^\n]*|#[^\n]*|'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`((?:[^`]|``)+)`|([\p{L}_$][\p{L}\p{N}_$]*)|([.,])/gu
  for (const m of sql.matchAll(re)) {
    if (m[1] !== undefined) out.push({ word: m[1].replace(/``/g, '`'), quoted: true })
    else if (m[2] !== undefined) out.push({ word: m[2], quoted: false })
    else if (m[3] !== undefined) out.push(m[3] as '.' | ',')
  }
  return out
}

const KINDS: Record<string, NamedObject['kind']> = { table: 'table', tables: 'table', view: 'table', on: 'table', to: 'table', trigger: 'trigger', procedure: 'procedure', function: 'function', event: 'event' }
/** What follows ON that is not a table: foreign-key actions, event clauses. */
const NOT_AFTER_ON = new Set(['delete', 'update', 'schedule', 'completion', 'commit', 'duplicate'])
const SKIP = new Set(['if', 'not', 'exists', 'temporary'])

/**
 * The tables, views, triggers and routines a DDL statement changes, from the words after TABLE, VIEW, ON (an index's
 * or trigger's table), TO (RENAME … TO), TRIGGER, PROCEDURE, FUNCTION and EVENT. Undefined when it names none of
 * them (CREATE DATABASE, GRANT …): then nothing can be compared, and the statement is recorded after it completes.
 * A name too many costs a SHOW that finds nothing; a name missed would make a completed statement look undone.
 */
export function objectsIn(statement: string): NamedObject[] | undefined {
  const t = tokens(statement)
  const found = new Map<string, NamedObject>()
  const renames = t.some((x) => typeof x !== 'string' && !x.quoted && /^rename$/i.test(x.word))
  const first = t[0]
  // RENAME TABLE a TO b, c TO d: every name is a table.
  if (first && typeof first !== 'string' && /^rename$/i.test(first.word)) {
    const names: NamedObject[] = []
    for (let i = 1; i < t.length; i++) {
      const x = t[i]!
      if (typeof x === 'string' || (!x.quoted && /^(table|tables|to)$/i.test(x.word))) continue
      const name = [x.word]
      if (t[i + 1] === '.' && t[i + 2] && typeof t[i + 2] !== 'string') name.push((t[(i += 2)] as Token).word)
      names.push({ kind: 'table', name })
    }
    return names.length ? names : undefined
  }
  for (let i = 0; i < t.length; i++) {
    const x = t[i]!
    if (typeof x === 'string' || x.quoted) continue
    const key = x.word.toLowerCase()
    const kind = KINDS[key]
    if (!kind || (key === 'to' && !renames)) continue
    let j = i + 1
    while (j < t.length && typeof t[j] !== 'string' && !(t[j] as Token).quoted && SKIP.has((t[j] as Token).word.toLowerCase())) j++
    // A comma-separated list (DROP TABLE a, b; RENAME TABLE a TO b, c TO d is read through TO).
    for (;;) {
      const first = t[j]
      if (!first || typeof first === 'string') break
      if (key === 'on' && !first.quoted && NOT_AFTER_ON.has(first.word.toLowerCase())) break
      const name = [first.word]
      j++
      if (t[j] === '.' && t[j + 1] && typeof t[j + 1] !== 'string') {
        name.push((t[j + 1] as Token).word)
        j += 2
      }
      found.set(`${kind}:${name.join('.').toLowerCase()}`, { kind, name })
      if (t[j] !== ',' || (key !== 'table' && key !== 'tables')) break
      j++
    }
  }
  return found.size ? [...found.values()] : undefined
}
