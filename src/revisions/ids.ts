/**
 * Orders ids numerically when both are digit strings (so `2` < `10`), else as plain strings. Numerically
 * equal ids (`1`, `01`) are one id to the loader (a duplicate, see idKey); here they still get a fixed
 * order between them (by string), so that sorting history rows that hold both stays deterministic.
 */
export function compareIds(a: string, b: string): number {
  if (digits.test(a) && digits.test(b)) {
    // Numeric order without BigInt: drop leading zeros, then the longer number is the larger.
    const x = a.replace(leadingZeros, '')
    const y = b.replace(leadingZeros, '')
    if (x.length !== y.length) return x.length < y.length ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }
  return a < b ? -1 : a > b ? 1 : 0
}

/** What makes two ids the same revision: a digit id is its number (`0001`, `01` and `1` are one id), any other id itself. */
export const idKey = (id: string): string => (digits.test(id) ? id.replace(leadingZeros, '') : id)

const digits = /^\d+$/
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
