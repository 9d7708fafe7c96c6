/**
 * Orders ids numerically when both are digit strings (so `2` < `10`) or dotted versions (`1.2` < `1.10`), else as plain strings. Numerically
 * equal ids (`1`, `01`) are one id to the loader (a duplicate, see idKey); here they still get a fixed
 * order between them (by string), so that sorting history rows that hold both stays deterministic.
 */
export function compareIds(a: string, b: string): number {
  if (dotted.test(a) && dotted.test(b) && (a.includes('.') || b.includes('.'))) {
    // Flyway's versions (1.1, 1.10, 2): part by part as numbers, a missing part is 0 (MigrationVersion.compareTo).
    const x = a.split('.')
    const y = b.split('.')
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const c = compareIds(x[i] ?? '0', y[i] ?? '0')
      if (c !== 0) return c
    }
  } else if (digits.test(a) && digits.test(b)) {
    // Numeric order without BigInt: drop leading zeros, then the longer number is the larger.
    const x = a.replace(leadingZeros, '')
    const y = b.replace(leadingZeros, '')
    if (x.length !== y.length) return x.length < y.length ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }
  return a < b ? -1 : a > b ? 1 : 0
}

/** What makes two ids the same revision: a digit id is its number (`0001`, `01` and `1` are one id), any other id itself. */
export const idKey = (id: string): string =>
  digits.test(id)
    ? id.replace(leadingZeros, '')
    : dotted.test(id)
      ? // Flyway: 1.01, 1.1 and 1.1.0 are one version.
        id.split('.').map((p) => p.replace(leadingZeros, '')).join('.').replace(/(?:\.0)+$/, '')
      : id

const digits = /^\d+$/
/** A dotted version (Flyway's `1.2.3`). */
const dotted = /^\d+(?:\.\d+)*$/
const leadingZeros = /^0+(?=\d)/

/**
 * The id as the revisions spell it: a target typed `1` names the revision `0001`. An id no revision has
 * numerically is returned as it is, for the caller's own "not found" error.
 */
export function spelled(id: string, ids: Iterable<string>): string {
  let match: string | undefined
  for (const x of ids) {
    if (x === id) return x
    if (match === undefined && idKey(x) === idKey(id)) match = x
  }
  return match ?? id
}
