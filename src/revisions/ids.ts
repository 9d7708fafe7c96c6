/** Orders ids numerically when both are digit strings (so `2` < `10`), else as plain strings. */
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

const digits = /^\d+$/
const leadingZeros = /^0+(?=\d)/
