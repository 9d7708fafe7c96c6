/** Orders ids numerically when both are digit strings (so `2` < `10`), else as plain strings. */
export function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const d = BigInt(a) - BigInt(b)
    if (d !== 0n) return d < 0n ? -1 : 1
  }
  return a < b ? -1 : a > b ? 1 : 0
}
