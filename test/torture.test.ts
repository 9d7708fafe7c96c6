// A small run of the crash-torture suite (test/torture/): real processes, real SIGKILL, real terminated
// PostgreSQL connections, real SIGTERM, real databases.
// The full run (200 trials per dialect) is `npm run torture`; its counts are in test/torture/README.md.
import { describe, expect, it } from 'vitest'
import { serverUrl } from './helpers.js'
import { consistency, finalChecks, lostReportIssues, outcomeIssues, runTorture, steppedIssues, summary, type ProcessRun, type TortureState } from './torture/torture.mjs'

const ids = Array.from({ length: 20 }, (_, i) => String(i + 1).padStart(4, '0'))
const TRIALS = 5

/** A database where every revision is applied and recorded, as the checks expect after a final run. */
function complete(): TortureState {
  const tx = ids.filter((id) => id !== '0010')
  return {
    history: new Map(ids.map((id) => [id, 'applied'])),
    markers: new Map(tx.map((id) => [id, 1])),
    nt: { start: 1, end: 1 },
    index: 'valid',
    effects: new Map(tx.map((id) => [id, true])),
  }
}
const context = { fingerprint: '3000/1/2', expectedFingerprint: '3000/1/2', lockHeld: false, settled: true }

describe('crash-torture invariants', () => {
  it('accept a complete database and name each way a database can be broken', () => {
    expect(finalChecks(complete(), context)).toEqual([])

    const recordedWithoutEffect = complete()
    recordedWithoutEffect.effects.set('0005', false)
    expect(finalChecks(recordedWithoutEffect, context).join('\n')).toContain('revision 0005 is applied but its effect is absent')

    const effectWithoutRecord = complete()
    effectWithoutRecord.history.delete('0020')
    expect(consistency(effectWithoutRecord, 'now').join('\n')).toContain('revision 0020 is not recorded but its effect is present')

    const twice = complete()
    twice.markers.set('0007', 2)
    expect(consistency(twice, 'now').join('\n')).toContain('revision 0007 was applied 2 times')

    const partial = complete()
    partial.effects.set('0006', 'partial')
    expect(consistency(partial, 'now').join('\n')).toContain('revision 0006 is partly applied')

    const rerun = complete()
    rerun.history.set('0010', 'running')
    rerun.nt = { start: 2, end: 0 }
    expect(consistency(rerun, 'now').join('\n')).toContain('dirty revision 0010 ran more than once')

    const gap = complete()
    for (const id of ['0003', '0004']) {
      gap.history.delete(id)
      gap.markers.delete(id)
      gap.effects.set(id, false)
    }
    expect(consistency(gap, 'now').join('\n')).toContain('applied revisions are not a prefix')

    expect(finalChecks(complete(), { ...context, fingerprint: '2999/1/2' }).join('\n')).toContain('pre-existing data changed')
    expect(finalChecks(complete(), { ...context, lockHeld: true }).join('\n')).toContain('lock is still held')
  })

  it('accept CONNECTION_LOST only from a process whose connection was terminated, ABORTED only after SIGTERM, and name anything else', () => {
    const failed = (code: string, revision = '0005'): ProcessRun => ({ code: 1, signal: null, out: '', error: { code, revision, message: `${code} message` } })
    const ok: ProcessRun = { code: 0, signal: null, out: '' }
    const quiet = { name: 'P1', killed: false, stopped: false, drops: [] as number[] }
    const dropped = { ...quiet, drops: [4242] }
    const stopped = { ...quiet, stopped: true }

    expect(outcomeIssues(ok, quiet)).toEqual([])
    expect(outcomeIssues(failed('DIRTY', '0010'), quiet)).toEqual([])
    expect(outcomeIssues(failed('CONNECTION_LOST'), dropped)).toEqual([])
    expect(outcomeIssues(failed('ABORTED'), stopped)).toEqual([])
    expect(outcomeIssues(failed('MIGRATION_FAILED'), { ...quiet, killed: true })).toEqual([])
    expect(outcomeIssues(failed('CONNECTION_LOST'), quiet).join('\n')).toContain('P1, neither killed nor otherwise disturbed, failed: CONNECTION_LOST')
    expect(outcomeIssues(failed('ABORTED'), dropped).join('\n')).toContain('its connection was terminated (1×), failed: ABORTED')
    expect(outcomeIssues(failed('MIGRATION_FAILED'), dropped).join('\n')).toContain('failed: MIGRATION_FAILED (revision 0005)')
    expect(outcomeIssues({ code: 1, signal: null, out: 'TypeError: crashed' }, dropped).join('\n')).toContain('exit 1 without an ERROR line: TypeError: crashed')

    // What a CONNECTION_LOST report says must match the database.
    const lost = (revision: string, message: string) => ({ code: 'CONNECTION_LOST', revision, message })
    const dirty = complete()
    dirty.history.set('0010', 'running')
    expect(lostReportIssues('P1', lost('0010', 'statements 1..1 stay applied'), dirty)).toEqual([])
    expect(lostReportIssues('P1', lost('0010', 'statements 1..1 stay applied'), complete()).join('\n')).toContain('its history row is applied, not "running"')
    const rolledBack = lost('0005', 'The revision was rolled back: … the history confirms nothing of it is applied. Run again.')
    const committed = lost('0005', 'The connection closed after COMMIT reached the server: the history shows the revision applied. Run again to continue.')
    const without5 = complete()
    without5.history.delete('0005')
    expect(lostReportIssues('P1', rolledBack, without5)).toEqual([])
    expect(lostReportIssues('P1', rolledBack, complete()).join('\n')).toContain('was rolled back when its connection closed, but its history row is applied')
    expect(lostReportIssues('P1', rolledBack, complete(), { otherStarted: true })).toEqual([])
    expect(lostReportIssues('P1', committed, complete())).toEqual([])
    expect(lostReportIssues('P1', committed, without5).join('\n')).toContain('committed before its connection closed, but its history row is absent')
    // MySQL, a revision run statement by statement, lost while its applied mark was written: true only when the mark landed.
    const landed = lost('0001', 'Revision 0001_a (…): all 2 of its statements ran outside a transaction, and the connection … closed while recording it as applied (…), after that write landed: the history shows it applied. Run again to continue.')
    const stepped = complete()
    stepped.steps = new Map([['0001', { effects: [true, true], recorded: 0 }]])
    expect(lostReportIssues('P1', landed, stepped)).toEqual([])
    stepped.history.set('0001', 'running')
    expect(lostReportIssues('P1', landed, stepped).join('\n')).toContain("0001's applied mark landed before its connection closed, but its history row is running")
  })
})

describe('the checks of a revision run statement by statement (MySQL)', () => {
  it('accept a dirty revision whose statement recorded as starting completed or not, and name effects past it or missing before it', () => {
    expect(steppedIssues('0008', { effects: [true, true, false], recorded: 2, rows: 2, started: false }, 'running', 'now')).toEqual([])
    // Statement 3 recorded as starting: done or not, both are true states (the schema says which).
    expect(steppedIssues('0008', { effects: [true, true, true, false], recorded: 2, rows: 3, started: true }, 'running', 'now')).toEqual([])
    expect(steppedIssues('0008', { effects: [true, true, false, false], recorded: 2, rows: 3, started: true }, 'running', 'now')).toEqual([])
    expect(steppedIssues('0008', { effects: [true, true, true, true], recorded: 2, rows: 3, started: true }, 'running', 'now').join('\n')).toContain('statement(s) 4 have their effect too')
    expect(steppedIssues('0008', { effects: [true, true, true], recorded: 2, rows: 2, started: false }, 'running', 'now').join('\n')).toContain('statement(s) 3 have their effect too')
    expect(steppedIssues('0008', { effects: [true, false, false], recorded: 2, rows: 2, started: false }, 'running', 'now').join('\n')).toContain('statement(s) 2 have no effect')
    expect(steppedIssues('0008', { effects: [true, true], recorded: 1, rows: 2, started: true }, 'applied', 'now').join('\n')).toContain('2 progress record(s) are left')
  })
})

describe.each(['postgres', 'sqlite'] as const)('crash torture on %s (small run)', (dialect) => {
  const other = dialect === 'postgres' ? 'connections terminated' : 'SIGTERM'
  it(`keeps every invariant through ${TRIALS} trials of processes killed with SIGKILL and ${other}`, async () => {
    const lines: string[] = []
    const r = await runTorture({
      dialect,
      trials: TRIALS,
      serverUrl: serverUrl(),
      // Trial 1 kills a process inside the no-transaction revision, trial 2 terminates its connection there
      // (PostgreSQL) or sends it SIGTERM (SQLite), so the dirty path and the second fault run every time.
      forceDirtyFirst: true,
      log: (m) => void lines.push(m),
    })
    expect(r.violations, `${summary(r)}\n${lines.join('\n')}`).toEqual([])
    expect(r.trials).toBe(TRIALS)
    expect(r.stats.killed).toBeGreaterThan(0)
    if (dialect === 'postgres') expect(r.stats.drops.terminated).toBeGreaterThan(0)
    else expect(r.stats.stopped).toBeGreaterThan(0)
    expect(r.stats.dirty).toBeGreaterThanOrEqual(1)
    expect(r.stats.resolvedApplied + r.stats.resolvedRolledBack).toBe(r.stats.dirty)
  }, 240_000)
})
