import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/postgres.ts', 'test/setup/mysql.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Tests start real processes against real servers; two cores do not take more at once.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
})
