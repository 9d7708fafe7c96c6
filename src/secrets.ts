// Keeping secrets out of everything we print: the passwords in the URLs and client we were given, URL
// redaction, and scrubbing an error (message, stack, properties, cause chain) before it leaves the migrator.
import type { MigrateOptions } from './types.js'

// The user part stops at the first ":"; the password runs to the LAST "@" before the path, query or a space
// (a raw "@" or "#" in a password is common, and postgres.js accepts the "@").
const urlPassword = /\b([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s"'<>]*:)[^\s/?"'<>]*@/gi

/** `postgres://u:secret@h/db` → `postgres://u:***@h/db`; `postgres://u:p@ss@h` → `postgres://u:***@h`. */
export const redactUrl = (text: string): string => text.replace(urlPassword, '$1***@')

/**
 * A URL we were given, for a message about that URL: everything between the user's ":" and the last "@"
 * is hidden, even characters ("/", "?") that would make the generic pattern stop early.
 */
export function redactGivenUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:)[\s\S]*@([^@]*)$/i.exec(url)
  return m ? `${m[1]}***@${m[2]}` : redactUrl(url)
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
const word = /[\p{L}\p{N}_]/u

/** `secret` as a whole token: not when letters or digits continue it on either side. */
function tokenPattern(secret: string): RegExp {
  const before = word.test(secret[0]!) ? '(?<![\\p{L}\\p{N}_])' : ''
  const after = word.test(secret.at(-1)!) ? '(?![\\p{L}\\p{N}_])' : ''
  return new RegExp(`${before}${escape(secret)}${after}`, 'gu')
}

/**
 * Returns a function that removes every URL's password, and every given secret where it stands as a whole
 * token (so the password `postgres` does not turn `npm install postgres` into `npm install ***`).
 * `urls` (the URLs we were given) are replaced whole by their redacted form first, whatever they contain.
 * Secrets shorter than 4 characters are only removed in URL form: replacing them elsewhere would mangle the text.
 */
export function scrubber(secrets: Array<string | undefined>, urls: Array<string | undefined> = []): (text: string) => string {
  const known = [...new Set(urls.filter((u): u is string => !!u))].map((u) => [u, redactGivenUrl(u)] as const).filter(([u, r]) => u !== r)
  const tokens = [...new Set(secrets.filter((s): s is string => !!s && s.length >= 4))].sort((a, b) => b.length - a.length).map(tokenPattern)
  const hide = (t: string) => tokens.reduce((out, re) => out.replace(re, '***'), t)
  // A URL's scheme and user stay readable (its password is already ***), even when a secret spells the same word.
  return (text) =>
    redactUrl(known.reduce((out, [u, r]) => out.split(u).join(r), String(text)))
      .split(urlHead)
      .map((part, i) => (i % 2 ? part : hide(part)))
      .join('')
}

// Scheme, user and host of a URL: never rewritten.
const urlHead = /(\b[a-z][a-z0-9+.-]*:\/\/(?:[^\s/?#@]*@)?[^\s/?#:,]*)/i

/**
 * Scrubs an error deep: its message and stack, its string properties (postgres.js `query`, Node's `input` on
 * an invalid URL), string arrays (`parameters`, `args`), and the same for its `cause` chain and `errors`.
 * util.inspect(), console.error() and JSON.stringify() of the result show no secret. The error is changed in
 * place; one with a property that cannot be changed (postgres.js defines `query` read-only) is replaced by a
 * copy with the same prototype, so `instanceof` and `code` still work.
 */
export function scrubError<T>(e: T, scrub: (s: string) => string, seen = new Map<object, object>()): T {
  if (!e || typeof e !== 'object') return e
  const done = seen.get(e)
  if (done) return done as T
  const o = e as Record<string, unknown>
  seen.set(o, o)
  const clean = (key: string, v: unknown): unknown => {
    if (typeof v === 'string') return scrub(v)
    if (Array.isArray(v)) {
      const next = v.map((x) => clean(key, x))
      return next.some((x, i) => x !== v[i]) ? next : v
    }
    if (v && typeof v === 'object' && (v instanceof Error || key === 'cause' || key === 'errors')) return scrubError(v, scrub, seen)
    return v
  }
  const changes: Array<[string, unknown]> = []
  for (const key of Reflect.ownKeys(o)) {
    if (typeof key !== 'string') continue
    const d = Object.getOwnPropertyDescriptor(o, key)
    if (d && 'value' in d) {
      const next = clean(key, d.value)
      if (next !== d.value) changes.push([key, next])
    }
  }
  // Where an engine keeps the stack behind an accessor, the loop above did not see it.
  if (typeof o.stack === 'string' && !Object.hasOwn(o, 'stack')) {
    const stack = scrub(o.stack)
    if (stack !== o.stack) changes.push(['stack', stack])
  }
  const write = (target: Record<string, unknown>, key: string, value: unknown): boolean => {
    try {
      const d = Object.getOwnPropertyDescriptor(target, key)
      if (!d || d.writable) target[key] = value
      else if (d.configurable) Object.defineProperty(target, key, { ...d, value })
      return target[key] === value
    } catch {
      return false
    }
  }
  let out = o
  if (!changes.every(([key, value]) => write(o, key, value))) {
    out = Object.create(Object.getPrototypeOf(o) as object) as Record<string, unknown>
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key)!
      Object.defineProperty(out, key, 'value' in d ? { ...d, writable: true, configurable: true } : { ...d, configurable: true })
    }
    for (const [key, value] of changes) Object.defineProperty(out, key, { value, writable: true, configurable: true, enumerable: Object.getOwnPropertyDescriptor(o, key)?.enumerable ?? false })
    seen.set(o, out)
  }
  return out as T
}

/** The parts of a URL that are printed anyway: a password equal to one of them is only hidden inside the URL. */
function publicParts(url: string): string[] {
  try {
    const u = new URL(url)
    return [u.protocol.slice(0, -1), decodeURIComponent(u.username), u.hostname, decodeURIComponent(u.pathname.slice(1))]
  } catch {
    return [url.split(':')[0]!]
  }
}

/** Words our own messages print (driver and scheme names): a password spelling one of them is not hidden there. */
const OUR_WORDS = ['postgres', 'postgresql', 'sqlite', 'better-sqlite3', 'boot-migrate']

/**
 * Passwords in the URLs and client we were given: removed from every message we produce. Read both the way
 * postgres.js reads a URL (up to the last "@" before the path) and, more broadly, up to the last "@" at all.
 */
export function secretsOf(options: MigrateOptions): string[] {
  const out: string[] = []
  const exclude = new Set(OUR_WORDS)
  const add = (s: string | undefined) => {
    if (!s) return
    out.push(s)
    try {
      out.push(decodeURIComponent(s))
    } catch {}
  }
  const replicas = Array.isArray(options?.replicas) ? options.replicas : []
  for (const u of [options?.url, options?.migrationUrl, ...replicas]) {
    if (typeof u !== 'string') continue
    publicParts(u).forEach((p) => exclude.add(p))
    add(/^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^/?]+)@/i.exec(u)?.[1])
    add(/^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([\s\S]+)@/i.exec(u)?.[1])
  }
  const client = options && (options.client ?? (options.db as { $client?: unknown } | undefined)?.$client)
  for (const given of [client, ...replicas.filter((r) => typeof r !== 'string')]) {
    const c = given as { options?: { pass?: unknown; password?: unknown }; connectionParameters?: { password?: unknown } } | undefined
    // postgres.js keeps it as options.pass, a node-postgres Pool as options.password, a Client in connectionParameters.
    for (const pass of [c?.options?.pass, c?.options?.password, c?.connectionParameters?.password]) if (typeof pass === 'string' && pass) out.push(pass)
  }
  return [...new Set(out)].filter((s) => !exclude.has(s))
}

/** The URLs we were given, for the scrubber to replace whole. */
export const urlsOf = (options: MigrateOptions): string[] =>
  [options?.url, options?.migrationUrl, ...(Array.isArray(options?.replicas) ? options.replicas : [])].filter((u): u is string => typeof u === 'string')
