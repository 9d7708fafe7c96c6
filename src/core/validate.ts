import type { Dialect } from '../dialects/dialect.js'
import { MigrationError } from '../errors.js'
import type { Revision } from '../revisions/revision.js'
import type { SqlSyntax, Statement } from '../revisions/split.js'
import { copyStdio, enumValueAdded, psqlMetaCommand, stringLiterals, transactionControl } from '../revisions/transaction-control.js'

/** Revisions (kept per process by loadRevisions) already checked against a dialect's rules. */
const validated = new WeakMap<Revision, Set<string>>()

/**
 * Rejects, before anything runs, what would break inside the transaction boot-migrate wraps around a revision.
 * Called with the revisions about to run (both their steps are checked), not the whole folder: a revision already
 * applied is only compared by checksum, and checking it would split its SQL for nothing (see sqlStep).
 */
export function validate(revisions: readonly Revision[], dialect: Dialect) {
  for (const rev of revisions) {
    const seen = validated.get(rev)
    if (seen?.has(dialect.name)) continue
    for (const step of [rev.up, rev.down]) if (step?.kind === 'sql') checkStatements(rev, step.statements, dialect)
    validated.set(rev, (seen ?? new Set<string>()).add(dialect.name))
  }
}

function checkStatements(rev: Revision, statements: Statement[], dialect: Dialect) {
  const sqlFile = /\.sql$/i.test(rev.source)
  const hint = sqlFile ? 'add "-- migrate:no-transaction" to the file' : 'set transaction: false on the revision'
  const fail = (st: Statement, why: string): never => {
    throw new MigrationError('INVALID_REVISION', `${rev.source}:${st.line}: ${why}`, { revision: rev.id, file: rev.source, line: st.line })
  }
  // A quote, comment, parenthesis or body never closed: the splitter could not cut the rest.
  const last = statements[statements.length - 1]
  if (last?.problem)
    throw new MigrationError('INVALID_REVISION', `${rev.source}:${last.problem.line}: ${last.problem.message}`, {
      revision: rev.id,
      file: rev.source,
      line: last.problem.line,
    })
  /** The BEGIN of a no-transaction revision that manages its own transaction, until its COMMIT. */
  let open: Statement | undefined
  /** Enum values that ALTER TYPE … ADD VALUE added in the transaction open now (PostgreSQL's only). */
  const added = new Map<string, Statement>()
  for (const st of statements) {
    if (dialect.name === 'postgres' && (rev.transaction || open))
      checkEnumUse(st, dialect.syntax, added, rev.transaction ? `move them to a later revision, or ${hint}` : 'COMMIT after the ADD VALUE', fail)
    const meta = psqlMetaCommand(st.text)
    if (meta) fail(st, `"${meta}" is a psql command, not SQL: boot-migrate sends statements through the driver, which has no psql. Remove it (or write it as SQL).`)
    if (/^delimiter\b/i.test(st.text))
      fail(
        st,
        '"DELIMITER" is a command of the mysql/mariadb client, not SQL: boot-migrate sends statements through the driver. ' +
          'Remove the DELIMITER lines and end each statement with ";" (the BEGIN … END body of a trigger, procedure, function or event is kept whole).',
      )
    const copy = copyStdio(st.text, dialect.syntax)
    if (copy)
      fail(
        st,
        `COPY … ${copy === 'from-stdin' ? 'FROM STDIN' : 'TO STDOUT'} needs psql's data stream, which a migration does not have. ` +
          'Write the rows as INSERT statements (pg_dump --inserts does), or COPY from a file on the database server.',
      )
    const tx = transactionControl(st.text, dialect.syntax)
    if (rev.transaction) {
      const reason = dialect.nonTransactional(st.text)
      if (reason)
        fail(st, `${reason} cannot run inside a transaction; ${hint} (its statements then run one by one, outside a transaction).`)
      // Savepoints nest inside the revision's transaction; anything that ends or starts one would break it.
      if (tx && tx.kind !== 'savepoint' && tx.kind !== 'release' && tx.kind !== 'rollback-to')
        fail(st, `"${tx.keyword}" controls the transaction that boot-migrate wraps around the revision; remove it (or ${hint} to manage transactions yourself).`)
      continue
    }
    if (!tx || tx.kind === 'savepoint' || tx.kind === 'release' || tx.kind === 'rollback-to') continue
    if (tx.kind === 'prepare') fail(st, `"${tx.keyword}" (two-phase commit) is not supported in a revision.`)
    if (tx.kind === 'begin') {
      if (open) fail(st, `"${tx.keyword}" starts a transaction while the one begun at line ${open.line} is still open.`)
      open = st
    } else {
      if (!open) fail(st, `"${tx.keyword}" ends a transaction that the revision did not begin.`)
      open = undefined
      added.clear()
    }
  }
  if (open)
    fail(open, `the transaction begun here is never committed: what follows would be rolled back when the revision ends. Add a COMMIT, or remove the BEGIN.`)
}

/**
 * PostgreSQL refuses to read an enum value added by ALTER TYPE … ADD VALUE before the transaction
 * that added it commits (55P04 "unsafe use of new value"). Refuses a statement that names such a
 * value as a string literal, in the same transaction; records the values a statement adds.
 */
function checkEnumUse(st: Statement, syntax: SqlSyntax, added: Map<string, Statement>, fix: string, fail: (st: Statement, why: string) => never) {
  const value = enumValueAdded(st.text, syntax)
  if (value !== undefined) {
    if (!added.has(value)) added.set(value, st)
    return
  }
  if (added.size === 0) return
  for (const literal of stringLiterals(st.text, syntax)) {
    const at = added.get(literal.value)
    if (!at) continue
    let line = st.line
    for (let k = st.text.indexOf('\n'); k >= 0 && k < literal.at; k = st.text.indexOf('\n', k + 1)) line++
    fail(
      { ...st, line },
      `'${literal.value}' is the enum value that ALTER TYPE … ADD VALUE adds at line ${at.line}, in the same transaction; PostgreSQL refuses to use a new enum value ` +
        `before the transaction that adds it commits (55P04 unsafe use of new value). Keep the ADD VALUE and the statements that use the value in separate transactions: ${fix}.`,
    )
  }
}
