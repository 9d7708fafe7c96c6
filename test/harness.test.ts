// The harness itself: a failing test must make vitest exit non-zero, through the project's config and
// global setup, on the embedded servers (PostgreSQL, and the suite's own MariaDB when the machine has
// one) and with TEST_DATABASE_URL/TEST_MYSQL_URL (the embedded server's exit hook once turned every run
// into exit 0). A passing fixture guards against a harness that always fails.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { root } from './helpers.js'

const config = 'test/fixtures/harness/vitest.config.ts'

/** `vitest run` on one fixture, as `npm test` would run it; without urls, on its own embedded servers. */
function vitest(fixture: string, urls?: { databaseUrl: string; mysqlUrl?: string }): Promise<{ code: number | null; output: string }> {
  // Nothing of this run's vitest (worker ids, TEST_DATABASE_URL, TEST_MYSQL_URL) may leak into the nested one.
  const own = (k: string) => k.startsWith('VITEST') || k === 'TEST_DATABASE_URL' || k === 'TEST_MYSQL_URL'
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !own(k)))
  if (urls) env.TEST_DATABASE_URL = urls.databaseUrl
  if (urls?.mysqlUrl) env.TEST_MYSQL_URL = urls.mysqlUrl
  const args = [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config, `test/fixtures/harness/${fixture}`]
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (b) => (output += b))
    child.stderr.on('data', (b) => (output += b))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, output }))
  })
}

describe.each([
  ['the embedded server', undefined],
  ['TEST_DATABASE_URL', () => ({ databaseUrl: inject('databaseUrl'), mysqlUrl: inject('mysqlUrl') })],
])('vitest with %s', (_, url) => {
  it('exits non-zero and names the test when a test fails', { timeout: 120_000 }, async () => {
    const run = await vitest('failing.fixture.ts', url?.())
    expect(run.code, run.output).not.toBe(0)
    expect(run.output).toContain('FAIL  test/fixtures/harness/failing.fixture.ts > harness fixture fails on purpose')
    expect(run.output).toContain('expected 1 to be 2')
  })

  it('exits 0 when every test passes', { timeout: 120_000 }, async () => {
    const run = await vitest('passing.fixture.ts', url?.())
    expect(run.code, run.output).toBe(0)
    expect(run.output).toMatch(/Tests\s+1 passed/)
  })
})
