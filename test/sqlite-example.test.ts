import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { root } from './helpers.js'
import { freshFile } from './sqlite-helpers.js'

const running: Array<ReturnType<typeof spawn>> = []
afterEach(() => {
  for (const c of running.splice(0)) c.kill('SIGKILL')
})

/** Starts the example as `npm run example` does (after the build), on a free port and a database of its own. */
function startExample(file: string) {
  const child = spawn(process.execPath, [join(root, 'examples/sqlite-service/server.mjs')], {
    env: { ...process.env, PORT: '0', SQLITE_FILE: file },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(child)
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const printed = (re: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = re.exec(out)
        if (m) resolve(m)
        return !!m
      }
      if (check()) return
      child.stdout.on('data', check)
      void exited.then(() => check() || reject(new Error(`the example exited without printing ${re}:\n${out}`)))
    })
  const stop = async () => {
    child.kill('SIGTERM')
    return exited
  }
  return { printed, stop, output: () => out }
}

describe('the SQLite example service', () => {
  it('migrates at boot and reports ready, then boots with the one-query check the second time', async () => {
    const file = await freshFile()
    const first = startExample(file)
    const [, base] = await first.printed(/listening on (http:\/\/127\.0\.0\.1:\d+)/)
    await first.printed(/ready at revision 0003/)
    expect(first.output()).toMatch(/migrations applied: 0001_create_notes \(\d+ ms\), 0002_seed_notes \(\d+ ms\), 0003_notes_created_at_index/)

    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', current: '0003', target: '0003' })
    expect((await fetch(`${base}/healthz`)).status).toBe(200)
    const notes = (await (await fetch(`${base}/notes`)).json()) as Array<{ body: string }>
    expect(notes).toHaveLength(2)
    expect(await first.stop()).toBe(0)

    const second = startExample(file)
    const [, again] = await second.printed(/listening on (http:\/\/127\.0\.0\.1:\d+)/)
    await second.printed(/ready at revision 0003/)
    expect(second.output()).toContain("nothing to migrate: the boot check ran 1 query on the app's connection and took no lock")
    expect(second.output()).not.toContain('applying')
    expect((await fetch(`${again}/readyz`)).status).toBe(200)
    expect(await second.stop()).toBe(0)
  })
})
