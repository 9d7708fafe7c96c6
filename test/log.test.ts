import { describe, expect, it } from 'vitest'
import { scrubber } from '../src/secrets.js'
import { createLog } from '../src/log.js'

describe('logging', () => {
  it('gives a pino-style logger the fields first and the message second', () => {
    const calls: unknown[][] = []
    const pino = { child: () => pino, level: 'info', info: (...a: unknown[]) => calls.push(a), warn() {}, error() {}, debug() {} }
    createLog(pino, (s) => s).info('applied 0001 in 5 ms', { revision: '0001', durationMs: 5 })
    expect(calls).toEqual([[{ name: 'boot-migrate', revision: '0001', durationMs: 5 }, 'applied 0001 in 5 ms']])
  })

  it('gives console one readable line', () => {
    const lines: unknown[][] = []
    const konsole = { info: (...a: unknown[]) => lines.push(a), warn() {}, error() {} }
    createLog(konsole, (s) => s).info('up to date', { current: '1' })
    expect(lines).toEqual([['[boot-migrate] up to date']])
  })

  it('removes URL passwords and known secrets from every line', () => {
    const lines: unknown[][] = []
    const konsole = { info: (...a: unknown[]) => lines.push(a), warn() {}, error() {} }
    createLog(konsole, scrubber(['hunter22'])).info('cannot reach postgres://app:p%40ss@db:5432/x; auth hunter22 failed')
    expect(lines).toEqual([['[boot-migrate] cannot reach postgres://app:***@db:5432/x; auth *** failed']])
  })

  it('stays silent with logger: false', () => {
    expect(() => createLog(false, (s) => s).error('x')).not.toThrow()
  })
})
