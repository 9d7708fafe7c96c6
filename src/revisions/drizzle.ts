import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MigrationError, messageOf } from '../errors.js'
import { checksumOf } from './checksum.js'
import { readText, type Entry } from './files.js'
import type { Revision } from './revision.js'
import type { SqlSyntax } from './split.js'
import { parseSqlRevision } from './sql-file.js'

interface JournalEntry {
  idx: number
  when: number
  tag: string
}

const isV1Folder = (dir: string, e: Entry) => e.isDirectory() && /^\d{14}/.test(e.name) && existsSync(join(dir, e.name, 'migration.sql'))

/** Whether a folder is drizzle-kit output: the 0.x layout (meta/_journal.json) or the 1.0 one (<timestamp>_<name>/migration.sql). */
export const isDrizzleFolder = (dir: string, entries: Entry[]): boolean =>
  existsSync(join(dir, 'meta', '_journal.json')) || entries.some((e) => isV1Folder(dir, e))

/** drizzle-kit 1.0 folder names start with UTC yyyyMMddHHmmss, which its migrator records as milliseconds. */
const folderMillis = (name: string) =>
  Date.UTC(+name.slice(0, 4), +name.slice(4, 6) - 1, +name.slice(6, 8), +name.slice(8, 10), +name.slice(10, 12), +name.slice(12, 14))

/**
 * Reads a drizzle-kit folder. Each SQL file is the up step (`--> statement-breakpoint` lines are
 * comments to our splitter); boot-migrate directives work inside it, and a down script sits in a
 * `-- migrate:down` section or in a side file `<tag>.down.sql` (0.x) / `down.sql` (1.0). Each
 * revision keeps drizzle's own hash and timestamp, to adopt and keep drizzle's history table.
 */
export function loadDrizzleFolder(dir: string, entries: Entry[], syntax: SqlSyntax): Revision[] {
  const journalPath = join(dir, 'meta', '_journal.json')
  const items: Array<{ id: string; name: string; file: string; downFile: string; when: number; drizzleName: string | null }> = []
  if (existsSync(journalPath)) {
    let journal: JournalEntry[]
    try {
      journal = (JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: JournalEntry[] }).entries
    } catch (e) {
      throw new MigrationError('INVALID_REVISION', `${journalPath}: not a drizzle-kit journal: ${messageOf(e)}`, { file: journalPath, cause: e })
    }
    for (const e of journal) {
      const m = /^(\d+)_?(.*)$/.exec(e.tag)
      items.push({
        id: m ? m[1]! : String(e.idx).padStart(4, '0'),
        name: m?.[2] || e.tag,
        file: join(dir, `${e.tag}.sql`),
        downFile: join(dir, `${e.tag}.down.sql`),
        when: e.when,
        drizzleName: null,
      })
    }
  } else {
    const folders = entries.filter((e) => isV1Folder(dir, e))
    for (const f of folders.sort((a, b) => a.name.localeCompare(b.name))) {
      const m = /^(\d{14})_?(.*)$/.exec(f.name)
      if (!m) throw new MigrationError('INVALID_REVISION', `${join(dir, f.name)}: a drizzle-kit 1.0 folder name starts with a 14-digit timestamp`, { file: join(dir, f.name) })
      // drizzle-kit 1.0 names folders to the second, so two can share a timestamp: the folder name is the identity, as in drizzle.
      items.push({ id: f.name, name: m[2] || m[1]!, file: join(dir, f.name, 'migration.sql'), downFile: join(dir, f.name, 'down.sql'), when: folderMillis(f.name), drizzleName: f.name })
    }
  }
  return items.map((it) => {
      if (!existsSync(it.file)) throw new MigrationError('INVALID_REVISION', `${it.file}: listed by drizzle-kit (meta/_journal.json) but missing`, { file: it.file })
      // UTF-8 only; `raw` keeps a byte-order mark for drizzle's own hash, computed over the file as drizzle reads it.
      const { text, raw } = readText(it.file, it.file)
      // The whole file is the up step unless it marks its sections itself.
      const marked = /^\s*--\s*migrate:up\b/im.test(text)
      const parsed = parseSqlRevision(marked ? text : `-- migrate:up\n${text}`, it.file, syntax, marked ? 0 : -1)
      const sideDown = existsSync(it.downFile) ? parseSqlRevision(`-- migrate:up\n${readText(it.downFile, it.downFile).text}`, it.downFile, syntax, -1).up : null
      return {
        id: it.id,
        name: it.name,
        source: it.file,
        checksum: checksumOf(parsed.up.text, parsed.transaction),
        transaction: parsed.transaction,
        up: parsed.up,
        down: parsed.down ?? sideDown,
        drizzle: { hash: createHash('sha256').update(raw).digest('hex'), when: it.when, name: it.drizzleName },
      }
  })
}
