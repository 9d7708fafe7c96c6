import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { MigrationError, messageOf } from '../errors.js'

/** A folder entry with symbolic links followed: a link to a file is a file, a link to a folder a folder. */
export interface Entry {
  name: string
  isFile(): boolean
  isDirectory(): boolean
  /** A symbolic link whose target does not exist (or cannot be reached). */
  dangling: boolean
  /** Where a symbolic link points, as written in the link. */
  link: string | null
}

/**
 * Lists a folder following symbolic links, as a Kubernetes ConfigMap mounts one: `0001_a.sql -> ..data/0001_a.sql`,
 * `..data -> ..2024_01_01_00_00_00.123`. Entries whose name starts with a dot are left out (that is where such
 * mounts keep their real files), but links pointing into them are followed. Throws what readdirSync throws.
 */
export function listFolder(root: string): Entry[] {
  const out: Entry[] = []
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue
    if (!e.isSymbolicLink()) {
      out.push({ name: e.name, isFile: () => e.isFile(), isDirectory: () => e.isDirectory(), dangling: false, link: null })
      continue
    }
    const path = join(root, e.name)
    let link: string | null = null
    try {
      link = readlinkSync(path)
    } catch {
      // Raced with a removal: reported as dangling below if the name matters.
    }
    try {
      const st = statSync(path)
      out.push({ name: e.name, isFile: () => st.isFile(), isDirectory: () => st.isDirectory(), dangling: false, link })
    } catch {
      out.push({ name: e.name, isFile: () => false, isDirectory: () => false, dangling: true, link })
    }
  }
  return out
}

/**
 * Texts read during one folder load (readingOnce): tool detection, the plain-folder check and parsing each
 * look at a file, and between them read it once.
 */
let session: Map<string, { text: string; raw: string }> | undefined

/** Runs `load` with every readText of a path answered from the first read of it. */
export async function readingOnce<T>(load: () => Promise<T>): Promise<T> {
  const outer = session
  session ??= new Map()
  try {
    return await load()
  } finally {
    if (!outer) session = undefined
  }
}

// ignoreBOM keeps a leading byte-order mark in the output (the default drops it silently), for `raw`.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Reads a revision file as UTF-8. Anything else is refused with the file and the line of the first byte that is
 * not UTF-8 (Latin-1 or Windows-1252 text would otherwise be stored as mojibake). A leading byte-order mark is
 * dropped from `text`, so adding or removing one never changes what runs or the checksum; `raw` keeps it, for
 * hashes that other tools compute over the file as they read it.
 */
export function readText(path: string, file: string): { text: string; raw: string } {
  const hit = session?.get(path)
  if (hit) return hit
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (e) {
    throw new MigrationError('INVALID_REVISION', `${file}: cannot be read: ${messageOf(e)}`, { file, cause: e })
  }
  let raw: string
  try {
    raw = utf8.decode(bytes)
  } catch (e) {
    throw notUtf8(bytes, file, e)
  }
  const read = { text: raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw, raw }
  session?.set(path, read)
  return read
}

function notUtf8(bytes: Buffer, file: string, cause: unknown): MigrationError {
  const utf16 = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  if (utf16)
    return new MigrationError('INVALID_REVISION', `${file}: the file is UTF-16 (it starts with a UTF-16 byte-order mark); revision files are read as UTF-8. Save it as UTF-8.`, {
      file,
      line: 1,
      cause,
    })
  // A newline byte never occurs inside a multi-byte UTF-8 sequence, so each line decodes on its own.
  let line = 1
  let start = 0
  for (;;) {
    const end = bytes.indexOf(0x0a, start)
    const slice = bytes.subarray(start, end === -1 ? bytes.length : end)
    let bad = -1
    try {
      utf8.decode(slice)
    } catch {
      bad = firstBadByte(slice)
    }
    if (bad !== -1) {
      const byte = slice[bad]!.toString(16).toUpperCase().padStart(2, '0')
      return new MigrationError(
        'INVALID_REVISION',
        `${file}:${line}: the file is not UTF-8 (byte 0x${byte} at column ${utf8.decode(slice.subarray(0, bad)).length + 1}; Latin-1 or Windows-1252 text looks like this). ` +
          `Revision files are read as UTF-8: convert it, e.g. iconv -f WINDOWS-1252 -t UTF-8, before it is applied.`,
        { file, line, cause },
      )
    }
    if (end === -1) break
    start = end + 1
    line++
  }
  return new MigrationError('INVALID_REVISION', `${file}: the file is not UTF-8. Save it as UTF-8.`, { file, cause })
}

/** Index of the first byte that does not start a valid UTF-8 sequence in a slice that fails to decode. */
function firstBadByte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!
    const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0
    if (n === 0 || i + n > b.length) return i
    try {
      utf8.decode(b.subarray(i, i + n))
    } catch {
      return i
    }
    i += n
  }
  return 0
}
