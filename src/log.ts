import type { Logger } from './types.js'

type Level = 'debug' | 'info' | 'warn' | 'error'
export type LogFn = (message: string, fields?: Record<string, unknown>) => void
export type Log = Record<Level, LogFn>

/**
 * Adapts console or a pino-style logger. pino-style objects (they have `child`) get `(fields, message)`;
 * console gets one readable line. Every line goes through `scrub`, so secrets never reach a log.
 */
export function createLog(logger: Logger | false | undefined, scrub: (s: string) => string): Log {
  const target = logger === undefined ? console : logger
  const structured = !!target && typeof (target as { child?: unknown }).child === 'function'
  const at =
    (level: Level): LogFn =>
    (message, fields) => {
      if (!target) return
      const fn = target[level]
      if (typeof fn !== 'function') return
      if (structured) fn.call(target, { name: 'boot-migrate', ...fields }, scrub(message))
      else if (level !== 'debug' || logger) fn.call(target, `[boot-migrate] ${scrub(message)}`)
    }
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}
