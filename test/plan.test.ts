import { describe, expect, it } from 'vitest'
import { plan, type HistoryRow } from '../src/plan.js'
import { loadRevisions } from '../src/revisions/load.js'

const syntax = { dollarQuotes: true, brackets: false, nestedComments: true }
const local = (...ids: string[]) => loadRevisions({ migrations: ids.map((id) => ({ id, up: `select ${id}` })) }, syntax)
const applied = async (...ids: string[]): Promise<HistoryRow[]> => (await local(...ids)).map((r) => ({ id: r.id, checksum: r.checksum, state: 'applied' }))

describe('planning', () => {
  it('lists the revisions that are not in the history as pending', async () => {
    const p = plan(await local('1', '2', '3'), await applied('1'))
    expect(p.pending.map((r) => r.id)).toEqual(['2', '3'])
    expect(p).toMatchObject({ current: '1', target: '3', unknown: [], running: [] })
  })

  it('stops at the target', async () => {
    expect(plan(await local('1', '2', '3'), [], { to: '2' }).pending.map((r) => r.id)).toEqual(['1', '2'])
  })

  it('rejects an unknown target', async () => {
    const revs = await local('1')
    expect(() => plan(revs, [], { to: '7' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }))
  })

  it('reports applied ids this code does not ship without failing', async () => {
    const p = plan(await local('1'), await applied('1', '2'))
    expect(p).toMatchObject({ pending: [], unknown: ['2'], current: '2' })
  })

  it('rejects a pending revision that sorts before an applied one', async () => {
    const [revs, rows] = [await local('1', '2', '3'), await applied('1', '3')]
    expect(() => plan(revs, rows)).toThrow(expect.objectContaining({ code: 'OUT_OF_ORDER', revision: '2' }))
  })

  it('applies an out-of-order revision when allowed', async () => {
    expect(plan(await local('1', '2', '3'), await applied('1', '3'), { allowOutOfOrder: true }).pending.map((r) => r.id)).toEqual(['2'])
  })

  it('rejects an applied revision whose checksum changed', async () => {
    const rows = (await applied('1')).map((r) => ({ ...r, checksum: 'f'.repeat(64) }))
    const revs = await local('1')
    expect(() => plan(revs, rows)).toThrow(expect.objectContaining({ code: 'CHECKSUM_MISMATCH', revision: '1' }))
  })

  it('keeps rows left running apart from pending work', async () => {
    const p = plan(await local('1', '2'), [{ id: '1', checksum: null, state: 'running' }])
    expect(p.running).toEqual([{ id: '1', checksum: null, state: 'running' }])
    expect(p.pending.map((r) => r.id)).toEqual(['2'])
  })
})
