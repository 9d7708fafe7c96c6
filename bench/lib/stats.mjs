export const sorted = (xs) => [...xs].sort((a, b) => a - b)
export const median = (xs) => {
  if (!xs.length) return NaN
  const s = sorted(xs)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
/** Nearest-rank percentile. */
export const pct = (xs, p) => {
  if (!xs.length) return NaN
  const s = sorted(xs)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}
export const p95 = (xs) => pct(xs, 95)

/** Formats a number of milliseconds (or any number) with a sensible precision. */
export function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—'
  if (typeof x !== 'number') return String(x)
  if (digits !== undefined) return x.toFixed(digits)
  const a = Math.abs(x)
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3)
}
export const ratio = (a, b) => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : NaN)
export const fmtRatio = (r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '—')

export function table(headers, rows) {
  const line = (cells) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n')
}
