/** `-- migrate:lint-ignore rule-a, rule-b` (or `all`): the rules a comment turns off for the statement it precedes or sits in. */
const IGNORE = /--[^\S\n]*migrate:lint-ignore\b([^\n]*)/gi

export function ignoredIn(text: string): Set<string> {
  const out = new Set<string>()
  for (const m of text.matchAll(IGNORE)) for (const r of m[1]!.split(/[\s,]+/)) if (r) out.add(r.toLowerCase())
  return out
}
