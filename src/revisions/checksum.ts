import { createHash } from 'node:crypto'

/** Checksum of what a revision does: its up SQL (line endings and outer blank space ignored) and its transaction mode. */
export function checksumOf(upSql: string, transaction: boolean): string {
  const text = (upSql.includes('\r') ? upSql.replace(/\r\n?/g, '\n') : upSql).trim() + (transaction ? '' : '\n-- migrate:no-transaction')
  return createHash('sha256').update(text).digest('hex')
}
