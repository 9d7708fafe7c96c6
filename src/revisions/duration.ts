/** setTimeout's and the option checks' ceiling: about 24.8 days. */
const MAX_MS = 2 ** 31 - 1
const UNITS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000 }

/**
 * A duration as `-- migrate:statement-timeout` and `statementTimeout` exports write it: `500ms`, `30s`, `5min`,
 * `2h`, or a plain number of milliseconds. Undefined when it is not one, or not from 1 ms to about 24 days.
 * `m` is refused on purpose: minutes or milliseconds, a reader cannot tell.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$/i.exec(text)
  if (!m) return undefined
  const ms = Math.round(Number(m[1]) * UNITS[(m[2] ?? 'ms').toLowerCase()]!)
  return ms >= 1 && ms <= MAX_MS ? ms : undefined
}

export const DURATION_FORMS = 'a duration such as 500ms, 30s, 5min or 2h (or a number of milliseconds), from 1 ms to 24 days'

/** How a timeout is shown in messages: as written, or in the largest unit that divides it. */
export function showDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['min', 60_000], ['s', 1_000]] as const) if (ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}
