import { messageOf } from '../errors.js'
import type { Revision } from '../revisions/revision.js'
import { kindOf } from './ast.js'
import { Schema, track, type RevisionState } from './model.js'
import type { Node, PgParser } from './parser.js'
import { RULES, WHY } from './rules/index.js'
import type { LintFinding, LintReport } from '../types.js'
import { ignoredIn } from './suppress.js'

export type LintTotals = Omit<LintReport, 'serverVersion'>

/** Lints the up steps of `revisions`, in order: what earlier revisions created is known to later ones. */
export function lintRevisions(revisions: Revision[], version: number, parser: PgParser): LintTotals {
  const schema = new Schema()
  const findings: LintFinding[] = []
  const dropped = new Map<LintFinding, string>()
  let statements = 0
  let count = 0
  for (const revision of revisions) {
    if (revision.up.kind !== 'sql') continue
    count++
    const s: RevisionState = { revision, version, created: new Set(), addedColumns: new Set(), createdTypes: new Set(), newEnumValues: new Map(), notValid: new Map(), schema }
    const text = revision.up.text
    const first = findings.length
    let cursor = 0
    for (const st of revision.up.statements) {
      statements++
      // The comments between the previous statement and this one are this one's (a lint-ignore line right before it).
      const at = text.indexOf(st.text, cursor)
      const before = at >= 0 ? text.slice(cursor, at) : ''
      if (at >= 0) cursor = at + st.text.length
      const ignored = ignoredIn(before + '\n' + st.text)
      const where = { revision: revision.id, file: revision.source, line: st.line }
      let stmts: Array<{ stmt: Node }>
      try {
        stmts = parser.parseSync(st.text).stmts ?? []
      } catch (e) {
        if (!ignored.has('syntax-error') && !ignored.has('all'))
          findings.push({ ...where, rule: 'syntax-error', message: `PostgreSQL's parser cannot read this statement: ${messageOf(e)}`, why: 'The server will refuse it too.', fix: 'correct the statement' })
        continue
      }
      for (const { stmt } of stmts) {
        const [kind, n] = kindOf(stmt)
        for (const rule of RULES)
          for (const { table, ...hit } of rule(kind, n, s))
            if (!ignored.has(hit.rule) && !ignored.has('all')) findings.push({ ...where, rule: hit.rule, message: hit.message, why: WHY[hit.rule], fix: hit.fix }), table && dropped.set(findings[findings.length - 1]!, table)
        track(kind, n, s, st.line)
      }
    }
    // A table dropped and created again in one transaction is there, as far as other transactions ever see.
    if (revision.transaction) {
      const kept = findings.splice(first).filter((f) => !s.created.has(dropped.get(f) ?? '\0'))
      findings.push(...kept)
    }
  }
  return { findings, revisions: count, statements }
}
