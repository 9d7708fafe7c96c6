import { MigrationError } from '../errors.js'
import type { SqlSyntax } from './split.js'
import { sqlStep, type Step } from './revision.js'
import { DURATION_FORMS, parseDuration } from './duration.js'

const directive = /^\s*--\s*migrate:([\w-]+)(.*)$/i
/** goose's annotations: `-- +goose Up`, `-- +goose Down`, `-- +goose StatementBegin`, `-- +goose NO TRANSACTION` … */
const goose = /^\s*--\s*\+goose\s+(\w+)/i

export interface ParsedSql {
  up: Step & { kind: 'sql' }
  down: (Step & { kind: 'sql' }) | null
  transaction: boolean
  /** `-- migrate:phase contract`: the boot defers the revision (MigrateOptions.phase). */
  phase: 'expand' | 'contract'
  /** `-- migrate:statement-timeout <duration>`: ms, and the directive's line. */
  statementTimeout?: { ms: number; line: number }
}

/** The word after `-- migrate:phase`, or undefined when it is not a phase. */
const phaseOf = (rest: string): 'expand' | 'contract' | undefined => (/^(?:expand|contract)$/i.test(rest) ? (rest.toLowerCase() as 'expand' | 'contract') : undefined)

/**
 * Parses a revision file: `-- migrate:up`, optional `-- migrate:down`, and the directive
 * `-- migrate:no-transaction` (dbmate's `-- migrate:up transaction:false` is read too).
 */
export function parseSqlRevision(text: string, source: string, syntax: SqlSyntax, lineShift = 0): ParsedSql {
  return plainParse(text, syntax, lineShift) ?? lineByLine(text, source, syntax, lineShift)
}

/** A line that is a directive, or a goose annotation (which lineByLine refuses): the only lines that need a look. */
const marker = /^[^\S\n]*--[^\S\n]*(?:migrate:|\+goose[^\S\n]+\w)/gim
/** A line of SQL (not blank, not a `--` comment). */
const sqlLine = /^[^\S\n]*(?!--)\S/m

/**
 * The common case without looking at every line: only the directive lines are found (one regular expression over
 * the text) and the sections between them are sliced whole. Gives up (undefined) on anything lineByLine would
 * refuse or that is not plain, so that lineByLine reports it with its line; the result is otherwise the same.
 */
function plainParse(text: string, syntax: SqlSyntax, lineShift: number): ParsedSql | undefined {
  const t = text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text
  const sections: Record<'up' | 'down', { start: number; pieces: string[] } | null> = { up: null, down: null }
  let current: { start: number; pieces: string[] } | null = null
  let transaction = true
  let phase: 'expand' | 'contract' | undefined
  let timeout: { ms: number; line: number } | undefined
  let line = 1
  let counted = 0
  /** Where the text after the last directive line starts; -1 when that line was the last, with no newline. */
  let after = 0
  marker.lastIndex = 0
  for (let m = marker.exec(t); m; m = marker.exec(t)) {
    const start = m.index
    for (let k = t.indexOf('\n', counted); k !== -1 && k < start; k = t.indexOf('\n', k + 1)) line++, (counted = k + 1)
    const nl = t.indexOf('\n', start)
    const end = nl === -1 ? t.length : nl
    const d = directive.exec(t.slice(start, end))
    if (!d) return undefined
    // The linter's comment (src/lint/suppress.ts): a plain comment to the migrator, kept in the text.
    if (d[1]!.toLowerCase() === 'lint-ignore') continue
    // The lines between the previous directive line and this one.
    if (start > after) {
      const chunk = t.slice(after, start - 1)
      if (current) current.pieces.push(chunk)
      else if (sqlLine.test(chunk)) return undefined
    }
    const word = d[1]!.toLowerCase()
    const rest = d[2]!.trim()
    const lineNo = line + lineShift
    if (word === 'up' || word === 'down') {
      if (sections[word] || (word === 'up' && sections.down)) return undefined
      if (/transaction\s*:\s*false/i.test(rest)) transaction = false
      else if (rest && !/^transaction\s*:\s*true$/i.test(rest)) return undefined
      current = sections[word] = { start: lineNo + 1, pieces: [] }
    } else if (word === 'no-transaction') {
      transaction = false
      current?.pieces.push('')
    } else if (word === 'phase') {
      if (phase || sections.down || !phaseOf(rest)) return undefined
      phase = phaseOf(rest)
      current?.pieces.push('')
    } else if (word === 'statement-timeout') {
      const ms = parseDuration(rest)
      if (ms === undefined || timeout) return undefined
      timeout = { ms, line: lineNo }
      current?.pieces.push('')
    } else return undefined
    after = nl === -1 ? -1 : nl + 1
    if (after === -1) break
    marker.lastIndex = after
  }
  if (!sections.up) return undefined
  if (after !== -1) {
    const chunk = t.slice(after)
    if (current) current.pieces.push(chunk)
    else if (sqlLine.test(chunk)) return undefined
  }
  const step = (s: { start: number; pieces: string[] }) => {
    const body = s.pieces.join('\n')
    return sqlStep(body.trim(), body, syntax, s.start)
  }
  return { up: step(sections.up), down: sections.down ? step(sections.down) : null, transaction, phase: phase ?? 'expand', ...(timeout ? { statementTimeout: timeout } : {}) }
}

export function lineByLine(text: string, source: string, syntax: SqlSyntax, lineShift: number): ParsedSql {
  const lines = text.replace(/\r\n?/g, '\n').split('\n')
  const sections: Record<'up' | 'down', { start: number; lines: string[] } | null> = { up: null, down: null }
  let current: 'up' | 'down' | null = null
  let transaction = true
  let phase: { line: number; phase: 'expand' | 'contract' } | undefined
  let timeout: { ms: number; line: number } | undefined
  const fail = (line: number, why: string) => {
    throw new MigrationError('INVALID_REVISION', `${source}:${line}: ${why}`, { file: source, line })
  }

  lines.forEach((raw, index) => {
    const lineNo = index + 1 + lineShift
    const m = directive.exec(raw)
    if (m && m[1]!.toLowerCase() !== 'lint-ignore') {
      const word = m[1]!.toLowerCase()
      const rest = m[2]!.trim()
      if (word === 'up' || word === 'down') {
        if (sections[word]) fail(lineNo, `a second "-- migrate:${word}" section`)
        if (word === 'up' && sections.down) fail(lineNo, '"-- migrate:up" must come before "-- migrate:down"')
        if (/transaction\s*:\s*false/i.test(rest)) transaction = false
        else if (rest && !/^transaction\s*:\s*true$/i.test(rest)) fail(lineNo, `unknown option "${rest}" after -- migrate:${word}`)
        sections[word] = { start: lineNo + 1, lines: [] }
        current = word
        return
      }
      if (word === 'no-transaction') {
        transaction = false
        // Keep the line (blank) so statement line numbers stay those of the file.
        if (current) sections[current]!.lines.push('')
        return
      }
      if (word === 'phase') {
        // Said where a reader of the up section looks: a down section is never deferred on its own.
        if (current === 'down') fail(lineNo, '"-- migrate:phase" in the down section: it goes before or in the up section')
        if (phase) fail(lineNo, `a second "-- migrate:phase" line (the first is line ${phase.line})`)
        const p = phaseOf(rest)
        if (!p) fail(lineNo, rest ? `unknown phase "${rest}" after -- migrate:phase (known: expand, contract)` : '"-- migrate:phase" without a phase: write expand or contract')
        phase = { line: lineNo, phase: p! }
        if (current) sections[current]!.lines.push('')
        return
      }
      if (word === 'statement-timeout') {
        // A blank line in its place, as for no-transaction: statement lines stay the file's, and the checksum does not
        // change with the timeout (how long a statement may run is the deploy's business, not the schema's).
        const ms = parseDuration(rest)
        if (ms === undefined) fail(lineNo, `"-- migrate:statement-timeout ${rest}": the timeout must be ${DURATION_FORMS}`)
        if (timeout) fail(lineNo, `a second "-- migrate:statement-timeout" (the first is at line ${timeout.line})`)
        timeout = { ms: ms!, line: lineNo }
        if (current) sections[current]!.lines.push('')
        return
      }
      fail(lineNo, `unknown directive "-- migrate:${m[1]}" (known: up, down, no-transaction, phase, statement-timeout, lint-ignore)`)
    }
    // goose folders are read by src/tools/goose.ts; a goose annotation here is in a file that mixes both formats
    // (or in a folder whose format was set to boot-migrate's).
    if (goose.test(raw))
      fail(
        lineNo,
        `"${raw.trim()}" is a goose annotation in a file read as boot-migrate's format (-- migrate:up): a file is one or the other. ` +
          'In a goose folder, keep goose\'s annotations only (it is read as goose reads it, -- +goose Up first); in a boot-migrate file, use "-- migrate:up", "-- migrate:down" and "-- migrate:no-transaction".',
      )
    if (current) sections[current]!.lines.push(raw)
    else if (raw.trim() && !raw.trim().startsWith('--'))
      fail(
        lineNo,
        'SQL before the "-- migrate:up" line' +
          (lines.some((l) => /^\s*--\s*migrate:up\b/i.test(l))
            ? ''
            : '; the file has no "-- migrate:up" line at all: a revision file starts with one (and may have a "-- migrate:down" section below). Add it at the top of a plain SQL file'),
      )
  })

  if (!sections.up) fail(1, 'no "-- migrate:up" section; a revision file needs one (and may have "-- migrate:down")')
  const step = (s: { start: number; lines: string[] }) => {
    const body = s.lines.join('\n')
    return sqlStep(body.trim(), body, syntax, s.start)
  }
  return { up: step(sections.up!), down: sections.down ? step(sections.down) : null, transaction, phase: phase?.phase ?? 'expand', ...(timeout ? { statementTimeout: timeout } : {}) }
}
