import type { LintFinding } from '../types.js'

/** `file:line rule message`, then why and the safe rewrite, indented: what `boot-migrate check` prints per finding. */
export const findingText = (f: LintFinding, paint: (s: string) => string = (s) => s): string =>
  `${paint(`${f.file}:${f.line} ${f.rule}`)} ${f.message}\n  why: ${f.why}\n  fix: ${f.fix}`
