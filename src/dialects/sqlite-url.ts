import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MigrationError } from '../errors.js'

/** A SQLite database named by a URL: an absolute file path, or `:memory:`. */
export interface SqliteFile {
  path: string
  memory: boolean
  readonly: boolean
}

const MEMORY = ':memory:'
const bareFile = /\.(db|sqlite|sqlite3)$/i

/**
 * Reads the SQLite forms of `url`, or returns undefined when it is not one:
 * `sqlite:path`, `sqlite://path` (so `sqlite:///abs/app.db` is absolute), `file:path`, `file:///abs/app.db`,
 * a bare path ending in .db/.sqlite/.sqlite3, and `:memory:` in any of these forms.
 * Relative paths resolve against the working directory. `?mode=ro` opens the file read-only.
 */
export function sqliteFile(url: string): SqliteFile | undefined {
  let rest: string
  if (/^sqlite:\/\//i.test(url)) rest = url.slice('sqlite://'.length)
  else if (/^sqlite:/i.test(url)) rest = url.slice('sqlite:'.length)
  else if (/^file:\/\//i.test(url)) {
    const u = new URL(url)
    const query = u.search
    u.search = ''
    return make(url, fileURLToPath(u), query.slice(1))
  } else if (/^file:/i.test(url)) rest = url.slice('file:'.length)
  else if (url === MEMORY) rest = url
  else if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && bareFile.test(url.split('?')[0]!)) rest = url
  else return undefined
  const q = rest.indexOf('?')
  return make(url, q < 0 ? rest : rest.slice(0, q), q < 0 ? '' : rest.slice(q + 1))
}

function make(url: string, path: string, query: string): SqliteFile {
  if (!path) throw new MigrationError('INVALID_OPTIONS', `"${url}" names no database file: use sqlite:./data/app.db or sqlite::memory:`)
  let readonly = false
  for (const [key, value] of new URLSearchParams(query)) {
    // Anything else would be silently ignored, so it is refused.
    if (key === 'mode' && value === 'ro') readonly = true
    else if (!(key === 'mode' && (value === 'rw' || value === 'rwc')))
      throw new MigrationError('INVALID_OPTIONS', `Unsupported "${key}=${value}" in the SQLite URL "${url}" (supported: mode=ro, mode=rw, mode=rwc).`)
  }
  const memory = path === MEMORY
  return { path: memory ? MEMORY : resolve(path), memory, readonly }
}
