// The harness itself: a failing test must make vitest exit non-zero, through the project's config and
// global setup, on the embedded server and with TEST_DATABASE_URL (the embedded server's exit hook once
// turned every run into exit 0). A passing fixture guards against a harness that always fails.
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { root } from './helpers.js'

const config = 'test/fixtures/harness/vitest.config.ts'

/** `vitest run` on one fixture, as `npm test` would run it; without a url, on its own embedded server. */
function vitest(fixture: string, databaseUrl?: string): Promise<{ code: number | null; output: string }> {
  // Nothing of this run's vitest (worker ids, TEST_DATABASE_URL) may leak into the nested one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'TEST_DATABASE_URL'))
  if (databaseUrl) env.TEST_DATABASE_URL = databaseUrl
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
  ['TEST_DATABASE_URL', () => inject('databaseUrl')],
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
