import { MigrationError } from './errors.js'
import { label, type Revision } from './revisions/revision.js'

/** A row of drizzle's `__drizzle_migrations`: 0.x matches by hash and timestamp, 1.0 also records the folder name. */
export interface DrizzleRow {
  hash: string
  createdAt: number
  name: string | null
}

/**
 * The revisions drizzle's migrator has already applied, matched by hash and by timestamp (or folder
 * name). Anything that does not match both ways is reported, not guessed: nothing is adopted then.
 */
export function adoptDrizzle(rows: DrizzleRow[], local: Revision[]): Revision[] {
  const adopted: Revision[] = []
  const problems: string[] = []
  for (const row of rows) {
    const sameTime = local.find((r) => r.drizzle && (row.name ? r.drizzle.name === row.name : r.drizzle.when === row.createdAt))
    const sameHash = local.find((r) => r.drizzle?.hash === row.hash)
    if (sameTime && sameTime === sameHash) adopted.push(sameTime)
    else if (sameTime) problems.push(`${label(sameTime)} (${sameTime.source}) was changed after drizzle applied it (its hash differs)`)
    else if (sameHash) problems.push(`${label(sameHash)} (${sameHash.source}) matches an applied hash but not its timestamp ${row.createdAt}`)
    else problems.push(`drizzle applied a migration that this folder does not have (hash ${row.hash.slice(0, 12)}…, created_at ${row.createdAt}${row.name ? `, ${row.name}` : ''})`)
  }
  if (problems.length)
    throw new MigrationError(
      'ADOPTION_MISMATCH',
      `Cannot take over drizzle's migration history: ${problems.join('; ')}. Nothing was recorded. ` +
        'Restore the files drizzle applied, or record what is really applied with `boot-migrate stamp <id>`.',
    )
  return adopted
}
