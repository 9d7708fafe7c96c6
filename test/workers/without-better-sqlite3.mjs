// Loaded with --import: better-sqlite3 cannot be found, as in an app on libSQL that never installed it.
import { register } from 'node:module'

const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === 'better-sqlite3') throw Object.assign(new Error("Cannot find package 'better-sqlite3'"), { code: 'ERR_MODULE_NOT_FOUND' })
  return next(specifier, context)
}`
register(`data:text/javascript,${encodeURIComponent(hooks)}`)
