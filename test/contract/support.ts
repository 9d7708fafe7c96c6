import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import type { MigrationError } from '../../src/index.js'

export const quiet = { logger: false as const }

/** The error a run must end with. */
export const failure = (p: Promise<unknown>) => p.then(() => expect.unreachable('the run should have failed'), (e: unknown) => e as MigrationError)

/** For expect.poll: keep looking until the state is reached (the bound only keeps a broken run from hanging the suite). */
export const eventually = { timeout: 30_000, interval: 50 }

/** A promise the test settles itself: the moment a revision reaches a point, or is let go on. */
export function deferred<T = void>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * A file the test creates to let a revision in another process go on. `hold()` is the body of a
 * function revision's wait: it returns once the file exists.
 */
export async function gate() {
  const path = join(await mkdtemp(join(tmpdir(), 'boot-migrate-gate-')), 'open')
  return {
    hold: () => `while (!(await import('node:fs')).existsSync(${JSON.stringify(path)})) await new Promise((r) => setTimeout(r, 20))`,
    open: () => writeFile(path, ''),
  }
}
