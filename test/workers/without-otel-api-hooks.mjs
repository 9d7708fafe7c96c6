// Loaded with --import: @opentelemetry/api cannot be found, as in an app that never installed it.
import { register } from 'node:module'

const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === '@opentelemetry/api' || specifier.startsWith('@opentelemetry/')) throw Object.assign(new Error("Cannot find package '" + specifier + "'"), { code: 'ERR_MODULE_NOT_FOUND' })
  return next(specifier, context)
}`
register(`data:text/javascript,${encodeURIComponent(hooks)}`)
