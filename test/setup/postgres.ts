import type { TestProject } from 'vitest/node'
import { startEmbeddedPostgres } from './embedded-postgres.mjs'

export { freePort, startEmbeddedPostgres } from './embedded-postgres.mjs'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

/** TEST_DATABASE_URL when set; otherwise a real PostgreSQL of our own for the whole run. */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL
  const server = given ? undefined : await startEmbeddedPostgres()
  project.provide('databaseUrl', given ?? server!.url)
  return async () => server?.stop()
}
