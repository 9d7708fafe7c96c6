import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { afterAll, inject } from 'vitest'
import type { Logger } from '../src/index.js'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const serverUrl = () => inject('databaseUrl')

/** Runs the built CLI as a user would, from the project's folder, with no environment but PATH and HOME. */
export function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
  })
  return { code: r.status, out: r.stdout, err: r.stderr, json: () => JSON.parse(r.stdout) }
}

const withDb = (url: string, db: string) => {
  const u = new URL(url)
  u.pathname = `/${db}`
  return u.toString()
}

let admin: postgres.Sql | undefined
const created: string[] = []
afterAll(async () => {
  if (!admin) return
  for (const db of created) await admin.unsafe(`drop database if exists "${db}" with (force)`).catch(() => undefined)
  await admin.end()
})

/** A new empty database on the test server, dropped after the file's tests. */
export async function freshDatabase(): Promise<string> {
  admin ??= postgres(serverUrl(), { max: 1, onnotice: () => undefined })
  const name = `bm_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  await admin.unsafe(`create database "${name}"`)
  created.push(name)
  return withDb(serverUrl(), name)
}

/** A postgres.js client for checks; closed after the file's tests. */
export function client(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  const sql = postgres(url, { max: 3, onnotice: () => undefined, ...options })
  afterAll(() => sql.end({ timeout: 1 }))
  return sql
}

/** Writes revision files into a new temp folder. */
export async function revisions(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'boot-migrate-revs-'))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return dir
}

/** A logger that keeps every line, for asserting on what users would read. */
export function captureLog() {
  const lines: string[] = []
  const at = (level: string) => (...args: unknown[]) => void lines.push(`${level} ${args.map(String).join(' ')}`)
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
  return { logger, lines, text: () => lines.join('\n') }
}

export interface WorkerRun {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  result?: { applied: Array<{ id: string }>; upToDate: boolean; current: string | null }
  error?: { code: string; message: string }
}

/** Starts `node test/workers/migrate.mjs` with the options; the worker imports the built package. */
export function startWorker(options: Record<string, unknown>) {
  const child = spawn(process.execPath, [join(root, 'test/workers/migrate.mjs')], {
    env: { ...process.env, BM_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stdout += d))
  const done = new Promise<WorkerRun>((resolve) =>
    child.on('exit', (code, signal) => {
      const line = (tag: string) => stdout.split('\n').find((l) => l.startsWith(tag))?.slice(tag.length)
      const r = line('RESULT ')
      const e = line('ERROR ')
      resolve({ code, signal, stdout, ...(r ? { result: JSON.parse(r) } : {}), ...(e ? { error: JSON.parse(e) } : {}) })
    }),
  )
  /** Resolves when the worker has printed a line containing `text`. */
  const printed = (text: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => stdout.includes(text) && (resolve(), true)
      if (check()) return
      child.stdout.on('data', check)
      child.on('exit', () => (stdout.includes(text) ? resolve() : reject(new Error(`worker exited without printing "${text}":\n${stdout}`))))
    })
  return { child, done, printed }
}

export const runWorker = (options: Record<string, unknown>) => startWorker(options).done
