import { describe, expect, it } from 'vitest'
import { MigrationError } from '../src/errors.js'
import { readinessBody, snapshot, initialHealth } from '../src/health.js'

const failed = () => {
  const s = initialHealth()
  Object.assign(s, {
    status: 'failed',
    current: '0001',
    target: '0002',
    pending: ['0002'],
    error: new MigrationError('MIGRATION_FAILED', "Revision 0002 failed at 0002.sql:3: invalid input syntax for type integer: \"secret\""),
  })
  return snapshot(s)
}

describe('readiness bodies', () => {
  it('carry the status, ids and the error code, never the message with its SQL', () => {
    const body = readinessBody(failed())
    expect(body).toEqual({ status: 'failed', ready: false, current: '0001', target: '0002', pending: 1, applying: null, error: 'MIGRATION_FAILED' })
    expect(JSON.stringify(body)).not.toContain('secret')
  })

  it('add pending ids and the error message with detail: true, for internal endpoints', () => {
    expect(readinessBody(failed(), { detail: true })).toMatchObject({ pending: ['0002'], error: { code: 'MIGRATION_FAILED', message: expect.stringContaining('0002.sql:3') } })
  })
})
