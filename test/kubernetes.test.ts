import { spawnSync } from 'node:child_process'
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { IJob } from 'kubernetes-models/batch/v1/Job'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec'
import type { IProbe } from 'kubernetes-models/v1/Probe'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import { parseAllDocuments } from 'yaml'
import { client, freshDatabase, root } from './helpers.js'

const folder = join(root, 'examples/kubernetes')

interface Manifest {
  file: string
  index: number
  doc: Record<string, unknown> & { apiVersion: string; kind: string }
}

async function manifests(): Promise<Manifest[]> {
  const out: Manifest[] = []
  for (const file of (await readdir(folder)).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = parseAllDocuments(await readFile(join(folder, file), 'utf8'))
    docs.forEach((d, index) => {
      if (d.errors.length) throw new Error(`${file} document ${index}: ${d.errors.map((e) => e.message).join('; ')}`)
      out.push({ file, index, doc: d.toJS() })
    })
  }
  return out
}

const all = await manifests()
const at = (m: Manifest) => `${m.file} ${m.doc.kind}/${(m.doc.metadata as { name?: string } | undefined)?.name}`

/** The pod template of each workload, with the pod it belongs to named for messages. */
interface Pod {
  where: string
  kind: string
  spec: IPodSpec
}
const pods: Pod[] = all.flatMap((m) => {
  if (m.doc.kind === 'Job') return [{ where: at(m), kind: 'Job', spec: (m.doc as unknown as IJob).spec!.template.spec! }]
  if (m.doc.kind === 'Deployment') return [{ where: at(m), kind: 'Deployment', spec: (m.doc as unknown as IDeployment).spec!.template.spec! }]
  return []
})

interface Container {
  where: string
  pod: Pod
  /** Init containers run to completion; only the long-running ones serve and are probed. */
  init: boolean
  c: IContainer
}
const containers: Container[] = pods.flatMap((pod) => [
  ...(pod.spec.initContainers ?? []).map((c) => ({ where: `${pod.where} init container ${c.name}`, pod, init: true, c })),
  ...pod.spec.containers.map((c) => ({ where: `${pod.where} container ${c.name}`, pod, init: false, c })),
])
/** Containers that serve until stopped: the app, in a Deployment. */
const servers = containers.filter((c) => !c.init && c.pod.kind === 'Deployment')
const jobs = all.filter((m) => m.doc.kind === 'Job').map((m) => ({ where: at(m), job: m.doc as unknown as IJob }))

const CLI = 'node_modules/boot-migrate/dist/cli.js'
const argv = (c: IContainer) => [...(c.command ?? []), ...(c.args ?? [])]

describe('the Kubernetes examples', () => {
  it('hold a migration Job, an init-container variant and an in-process variant', () => {
    expect(all.map((m) => `${m.file} ${m.doc.kind}`)).toEqual(expect.arrayContaining(['job.yaml Job', 'init-container.yaml Deployment', 'deployment.yaml Deployment']))
    const runs = (file: string, command: string, init: boolean) => containers.some((c) => c.where.startsWith(file) && c.init === init && argv(c.c).join(' ').includes(`${CLI} ${command}`))
    expect(runs('job.yaml Job', 'up', false)).toBe(true)
    expect(runs('job.yaml Deployment', 'wait', true)).toBe(true)
    expect(runs('init-container.yaml', 'up', true)).toBe(true)
  })

  it('every document is valid against the Kubernetes schema', async () => {
    for (const m of all) {
      const mod = (await import(`kubernetes-models/${m.doc.apiVersion}/${m.doc.kind}`)) as Record<string, new (data: unknown) => { validate(): void }>
      const Model = mod[m.doc.kind]!
      expect(() => new Model(m.doc).validate(), at(m)).not.toThrow()
    }
  })

  it('every document uses only fields Kubernetes knows (kubectl --validate=strict refuses the others)', () => {
    // The schema allows any extra field; a misspelt `resouces` would pass it and be refused by kubectl, or
    // silently dropped by an older one. The typed models do know every field: type-check each document as
    // an object literal of its kind, which reports every property the kind does not have.
    const bodies = all.map((m, i) => `import type { I${m.doc.kind} as T${i} } from 'kubernetes-models/${m.doc.apiVersion}/${m.doc.kind}'\nexport const doc${i}: T${i} = ${JSON.stringify(m.doc)}\n`)
    const starts = bodies.map((_, i) => bodies.slice(0, i).join('').length)
    const name = join(root, 'test', '__kubernetes-manifests__.ts')
    const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] }
    const host = ts.createCompilerHost(options)
    const { getSourceFile, fileExists } = host
    host.getSourceFile = (f, lang, ...rest) => (f === name ? ts.createSourceFile(f, bodies.join(''), lang) : getSourceFile.call(host, f, lang, ...rest))
    host.fileExists = (f) => f === name || fileExists.call(host, f)
    const problems = ts.getPreEmitDiagnostics(ts.createProgram([name], options, host)).map((d) => {
      let i = starts.length - 1
      while (i > 0 && starts[i]! > (d.start ?? 0)) i--
      return `${at(all[i]!)}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    })
    expect(problems).toEqual([])
  })

  it('every pod meets the "restricted" Pod Security Standard: non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    for (const { where, pod, c } of containers) {
      const own = c.securityContext ?? {}
      const podLevel = pod.spec.securityContext ?? {}
      expect(own.runAsNonRoot ?? podLevel.runAsNonRoot, where).toBe(true)
      // A numeric user, so the kubelet can check non-root even when the image names its user.
      expect(own.runAsUser ?? podLevel.runAsUser, where).toBeGreaterThan(0)
      expect(own.allowPrivilegeEscalation, where).toBe(false)
      expect(own.capabilities?.drop, where).toEqual(['ALL'])
      expect(own.capabilities?.add ?? [], where).toEqual([])
      expect((own.seccompProfile ?? podLevel.seccompProfile)?.type, where).toBe('RuntimeDefault')
      expect(own.privileged ?? false, where).toBe(false)
    }
  })

  it('every container runs with a read-only root file system', () => {
    for (const { where, c } of containers) expect(c.securityContext?.readOnlyRootFilesystem, where).toBe(true)
  })

  it('every volume a container mounts is declared by its pod, and the app gets a writable /tmp', () => {
    for (const { where, pod, c } of containers)
      for (const mount of c.volumeMounts ?? []) expect(pod.spec.volumes?.map((v) => v.name), where).toContain(mount.name)
    for (const { where, pod, c } of servers) {
      const tmp = c.volumeMounts?.find((v) => v.mountPath === '/tmp')
      expect(pod.spec.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, where).toBeDefined()
    }
  })

  it('no pod gets a Kubernetes API token it has no use for', () => {
    for (const { where, spec } of pods) expect(spec.automountServiceAccountToken, where).toBe(false)
  })

  it('every container requests and limits CPU and memory', () => {
    for (const { where, c } of containers) {
      expect(Object.keys(c.resources?.requests ?? {}).sort(), where).toEqual(['cpu', 'memory'])
      expect(Object.keys(c.resources?.limits ?? {}).sort(), where).toEqual(['cpu', 'memory'])
    }
  })

  it('no container runs npx or npm: the CLI is started by node from the installed package', () => {
    for (const { where, c } of containers) {
      const words = argv(c)
      expect(words.some((w) => /(^|\/)(npx|npm|yarn|pnpm)$/.test(w)), where).toBe(false)
      expect(words[0], where).toBe('node')
      if (words.some((w) => w.includes('boot-migrate'))) expect(words[1], where).toBe(CLI)
      // A relative path is only as good as the folder it is relative to: the manifest names it.
      expect(c.workingDir, where).toBe('/app')
    }
  })

  it('database URLs come from a Secret, never written in the manifest', () => {
    for (const { where, c } of containers) {
      for (const e of c.env ?? []) {
        expect(e.value ?? '', `${where} ${e.name}`).not.toMatch(/:\/\/|password/i)
        if (/URL$/.test(e.name)) expect(e.valueFrom?.secretKeyRef?.key, `${where} ${e.name}`).toBeTruthy()
      }
      expect(c.env?.some((e) => e.name === 'DATABASE_URL'), where).toBe(true)
    }
  })

  it('the Job cleans itself up: a TTL after it finishes, a deadline, a bounded number of retries', () => {
    expect(jobs.length).toBeGreaterThan(0)
    for (const { where, job } of jobs) {
      expect(job.spec!.ttlSecondsAfterFinished, where).toBeGreaterThan(0)
      expect(job.spec!.activeDeadlineSeconds, where).toBeGreaterThan(60) // above the CLI's 60 s connect timeout at least
      expect(job.spec!.backoffLimit, where).toBeGreaterThanOrEqual(1)
      expect(job.spec!.backoffLimit, where).toBeLessThanOrEqual(5)
      expect(job.spec!.template.spec!.restartPolicy, where).toBe('Never')
    }
  })

  it('the Job fails at once on bad usage (exit 2) rather than retrying it', () => {
    for (const { where, job } of jobs) {
      const rule = job.spec!.podFailurePolicy?.rules.find((r) => r.action === 'FailJob')
      expect(rule?.onExitCodes, where).toMatchObject({ operator: 'In', values: [2] })
    }
  })

  it('every app container has a named port and startup, liveness and readiness probes on it', () => {
    expect(servers.length).toBe(3)
    for (const { where, c } of servers) {
      expect(c.ports?.[0], where).toMatchObject({ name: 'http', containerPort: 3000 })
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) expect(probe?.httpGet?.port, where).toBe('http')
    }
  })

  it("readiness asks the library's /readyz and tolerates a slow or missed answer", () => {
    for (const { where, c } of servers) {
      const p = c.readinessProbe!
      expect(p.httpGet?.path, where).toBe('/readyz')
      expect(p.timeoutSeconds, where).toBeGreaterThanOrEqual(2) // the default 1 s fails on a GC pause
      expect(p.failureThreshold, where).toBeGreaterThanOrEqual(3) // one missed answer does not drop the pod
    }
  })

  it('liveness and startup never ask /readyz, so a long migration cannot get a pod restarted', () => {
    for (const { where, c } of servers)
      for (const p of [c.startupProbe, c.livenessProbe] as IProbe[]) {
        expect(p.httpGet?.path, where).toBe('/healthz')
        expect(p.timeoutSeconds, where).toBeGreaterThanOrEqual(2)
        expect(p.failureThreshold, where).toBeGreaterThanOrEqual(3)
      }
  })

  it('the README names each manifest and the command that starts the CLI in them', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8')
    for (const file of new Set(all.map((m) => m.file))) expect(readme).toContain(`examples/kubernetes/${file}`)
    expect(readme).toContain(`node ${CLI}`)
  })
})

/**
 * What `npm ci --omit=dev` leaves in an image: the app's folder with boot-migrate's published files, its
 * dependencies and the driver. Owned by root and not writable by the user the commands run as.
 */
async function image(revisions: Record<string, string>) {
  const app = join(await mkdtemp(join(tmpdir(), 'boot-migrate-image-')), 'app')
  const modules = join(app, 'node_modules')
  await mkdir(join(modules, 'boot-migrate'), { recursive: true })
  await cp(join(root, 'dist'), join(modules, 'boot-migrate/dist'), { recursive: true })
  await cp(join(root, 'package.json'), join(modules, 'boot-migrate/package.json'))
  const installed = new Set<string>()
  const install = async (name: string): Promise<void> => {
    if (installed.has(name)) return
    installed.add(name)
    const from = await realpath(join(root, 'node_modules', name))
    await cp(from, join(modules, name), { recursive: true, dereference: true })
    const pkg = JSON.parse(await readFile(join(from, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    for (const dep of Object.keys(pkg.dependencies ?? {})) await install(dep)
  }
  const own = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
  for (const dep of [...Object.keys(own.dependencies ?? {}), 'postgres']) await install(dep)
  await mkdir(join(app, 'migrations'))
  for (const [file, text] of Object.entries(revisions)) await writeFile(join(app, 'migrations', file), text)
  // mkdtemp makes its folder private to its owner; the command's user must be able to read the image.
  await chmod(join(app, '..'), 0o755)
  if (!asRoot) spawnSync('chmod', ['-R', 'a-w', app])
  images.push(app)
  return app
}
const images: string[] = []
afterAll(async () => {
  for (const app of images) {
    spawnSync('chmod', ['-R', 'u+w', join(app, '..')])
    await rm(join(app, '..'), { recursive: true, force: true })
  }
})

// Run as root (as here and in CI), the commands run as `nobody`, so the image is not theirs to write, as
// with runAsNonRoot and readOnlyRootFilesystem. Run as another user, the image is made read-only instead.
const asRoot = process.getuid?.() === 0
const NOBODY = 65534

/**
 * Runs a container's command as the kubelet would: `node` is this Node.js, the environment holds the
 * database URL and nothing else (no HOME, no PATH to find npm with); the npm cache and TMPDIR point
 * where nothing can be written, even by root.
 */
function runContainer(c: IContainer, cwd: string, url: string, words = argv(c)) {
  const [node, ...rest] = words
  expect(node).toBe('node')
  const unwritable = '/proc/boot-migrate-no-such-dir'
  const r = spawnSync(process.execPath, rest, {
    cwd,
    env: { DATABASE_URL: url, npm_config_cache: unwritable, TMPDIR: unwritable },
    encoding: 'utf8',
    timeout: 120_000,
    ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  })
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr }
}

const notes = { '0001_notes.sql': '-- migrate:up\ncreate table notes (id bigint primary key, body text not null);\n-- migrate:down\ndrop table notes;\n' }

describe('the CLI as the manifests start it', () => {
  it('every boot-migrate command of the manifests runs in a read-only image as a non-root user without npm, and migrates', async () => {
    const url = await freshDatabase()
    const app = await image(notes)
    // The Job (or an init container) runs `up`; then every `wait` and every other `up` finds the target.
    const commands = containers.filter(({ c }) => argv(c)[1] === CLI).sort((a, b) => Number(argv(b.c)[2] === 'up') - Number(argv(a.c)[2] === 'up'))
    expect(commands.map(({ c }) => argv(c)[2])).toEqual(['up', 'up', 'wait'])
    for (const { where, c } of commands) {
      const r = runContainer(c, app, url)
      expect({ where, ...r }).toMatchObject({ where, code: 0, signal: null })
    }
    const sql = client(url)
    expect(await sql`select id, state from boot_migrate_history`).toEqual([{ id: '0001', state: 'applied' }])
    expect(await sql`select to_regclass('notes')::text as t`).toEqual([{ t: 'notes' }])
  })

  it('dist/cli.js run by its absolute path from another folder finds its own modules', async () => {
    const url = await freshDatabase()
    const app = await image(notes)
    const r = runContainer({ name: 'x' }, '/', url, ['node', join(app, CLI), 'up', '--dir', join(app, 'migrations'), '--json'])
    expect(r.code, r.err).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ applied: [{ id: '0001' }], current: '0001' })
  })
})
