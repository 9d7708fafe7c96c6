#!/usr/bin/env node
// The unsafe-DDL linter over a folder of real PostgreSQL migrations, to count what it finds and review it.
//
//   npx tsup && node bench/lint-corpus.mjs <folder> [--match REGEX] [--server-version N] [--sample N] [--rule ID] [--json]
//
// Every file under <folder> whose path matches --match (default \.sql$) is one revision, in path order (so what an
// earlier file creates is known to later ones), transactional unless it holds CONCURRENTLY or its folder's
// metadata.toml says run_in_transaction = false (diesel). Prints files, statements, statements the parser refused,
// findings per rule, and --sample N findings per rule with their statement's first lines, for review.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { lint } from '../dist/index.js'

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const folder = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'))
if (!folder) {
  console.error('usage: node bench/lint-corpus.mjs <folder> [--match REGEX] [--server-version N] [--sample N] [--rule ID] [--json]')
  process.exit(2)
}
const match = new RegExp(flag('match', '\\.sql$'))
const sample = Number(flag('sample', '0'))
const only = flag('rule', undefined)

const files = []
const visit = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) visit(path)
    else if (match.test(path)) files.push(path)
  }
}
visit(folder)
files.sort()

const noTransaction = (path, text) => {
  if (/\bconcurrently\b/i.test(text) || /autocommit/.test(path)) return true
  const meta = join(dirname(path), 'metadata.toml')
  return existsSync(meta) && /run_in_transaction\s*=\s*false/.test(readFileSync(meta, 'utf8'))
}
const migrations = files.map((path, i) => {
  const up = readFileSync(path, 'utf8')
  return { id: String(i + 1).padStart(6, '0'), name: relative(folder, path), up, transaction: !noTransaction(path, up) }
})
const t0 = performance.now()
const report = await lint({ migrations, serverVersion: flag('server-version', '17') })
const ms = performance.now() - t0
const pathOf = new Map(migrations.map((m) => [m.id, m.name]))
const parseErrors = report.findings.filter((f) => f.rule === 'syntax-error')
const findings = report.findings.filter((f) => f.rule !== 'syntax-error')
const perRule = {}
for (const f of findings) perRule[f.rule] = (perRule[f.rule] ?? 0) + 1

if (args.includes('--json')) {
  console.log(JSON.stringify({ folder, files: files.length, statements: report.statements, parseErrors: parseErrors.length, perRule, findings: findings.map((f) => ({ ...f, file: pathOf.get(f.revision) })) }, null, 2))
  process.exit(0)
}
console.log(`${folder}: ${files.length} files, ${report.statements} statements, ${parseErrors.length} the parser refused, ${findings.length} findings (PostgreSQL ${report.serverVersion}, ${Math.round(ms)} ms)`)
for (const [rule, n] of Object.entries(perRule).sort((a, b) => b[1] - a[1])) console.log(`  ${rule.padEnd(34)} ${n}`)
for (const e of parseErrors.slice(0, 5)) console.log(`  parser: ${pathOf.get(e.revision)}:${e.line} ${e.message.slice(0, 160)}`)
if (sample) {
  const lines = (f) => {
    const text = readFileSync(join(folder, pathOf.get(f.revision)), 'utf8').split('\n')
    const out = []
    for (let i = f.line - 1; i < text.length && out.length < 4; i++) {
      out.push(text[i])
      if (text[i].includes(';')) break
    }
    return out.map((l) => `      | ${l.slice(0, 160)}`).join('\n')
  }
  for (const rule of Object.keys(perRule).sort()) {
    if (only && rule !== only) continue
    const of = findings.filter((f) => f.rule === rule)
    // Spread over the corpus, not the first N.
    const picked = of.length <= sample ? of : Array.from({ length: sample }, (_, i) => of[Math.floor((i * of.length) / sample)])
    console.log(`\n## ${rule} (${of.length})`)
    for (const f of picked) console.log(`  ${pathOf.get(f.revision)}:${f.line} ${f.message}\n${lines(f)}`)
  }
}
