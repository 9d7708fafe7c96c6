// A small run of the crash-torture suite (test/torture/): real processes, real SIGKILL, real databases.
// The full run (200 trials per dialect) is `npm run torture`; its counts are in test/torture/README.md.
import { describe, expect, it } from 'vitest'
import { serverUrl } from './helpers.js'
import { consistency, finalChecks, runTorture, summary, type TortureState } from './torture/torture.mjs'

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
})

describe.each(['postgres', 'sqlite'] as const)('crash torture on %s (small run)', (dialect) => {
  it(`keeps every invariant through ${TRIALS} trials of processes killed with SIGKILL`, async () => {
    const lines: string[] = []
    const r = await runTorture({
      dialect,
      trials: TRIALS,
      serverUrl: serverUrl(),
      // The first trial kills a process inside the no-transaction revision, so the dirty path runs every time.
      forceDirtyFirst: true,
      log: (m) => void lines.push(m),
    })
    expect(r.violations, `${summary(r)}\n${lines.join('\n')}`).toEqual([])
    expect(r.trials).toBe(TRIALS)
    expect(r.stats.killed).toBeGreaterThan(0)
    expect(r.stats.dirty).toBeGreaterThanOrEqual(1)
    expect(r.stats.resolvedApplied + r.stats.resolvedRolledBack).toBe(r.stats.dirty)
  }, 240_000)
})
