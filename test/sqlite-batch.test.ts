import { describe, expect, it } from 'vitest'
import { createMigrator, type MigrationError } from '../src/index.js'
import { captureLog, revisions, startWorker } from './helpers.js'
import { freshFile, open, tables } from './sqlite-helpers.js'

// On SQLite the pending SQL revisions of a run share one transaction unless `transaction` is set (src/up.ts, groups):
// one COMMIT instead of one per revision. Each revision's history row stays in that transaction with its statements.

/** Long enough for a kill to land inside it: a recursive count of millions of rows. */
const SLOW = 'create table slow as with recursive c(x) as (select 1 union all select x + 1 from c where x < 30000000) select count(*) as n from c;'

const folder = () =>
  revisions({
    '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
    '0002_b.sql': '-- migrate:up\ncreate table b (x int);\ninsert into b values (1);\n',
    '0003_slow.sql': `-- migrate:up\n${SLOW}\n`,
  })

describe('pending revisions on SQLite', () => {
  it('share one transaction: a process killed in the third leaves none of them applied, and the next run applies each once', async () => {
    const file = await freshFile()
    const dir = await folder()
    const killed = startWorker({ url: `sqlite:${file}`, dir })
    await killed.printed('applying 0003_slow')
    killed.child.kill('SIGKILL')
    expect((await killed.done).signal).toBe('SIGKILL')
    const db = open(file)
    expect(tables(db).filter((t) => t !== 'boot_migrate_history')).toEqual([])
    expect(tables(db).includes('boot_migrate_history') ? db.prepare('select id from boot_migrate_history').all() : []).toEqual([])

    const next = await startWorker({ url: `sqlite:${file}`, dir, lockStale: 2000 }).done
    expect(next.error, next.stdout).toBeUndefined()
    expect(next.result!.applied.map((a) => a.id)).toEqual(['0001', '0002', '0003'])
    expect(db.prepare('select id, state from boot_migrate_history order by id').all()).toEqual([
      { id: '0001', state: 'applied' },
      { id: '0002', state: 'applied' },
      { id: '0003', state: 'applied' },
    ])
    expect(db.prepare('select count(*) from b').pluck().get()).toBe(1)
  })

  it("commit one by one with transaction: 'each': a process killed in the third leaves the first two applied", async () => {
    const file = await freshFile()
    const dir = await folder()
    const killed = startWorker({ url: `sqlite:${file}`, dir, transaction: 'each' })
    await killed.printed('applying 0003_slow')
    killed.child.kill('SIGKILL')
    await killed.done
    expect(open(file).prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002'])
  })

  it('end where a commit per revision would when a statement fails: the revisions before it applied, the failing one pending', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_a.sql': '-- migrate:up\ncreate table a (x int);\n',
      '0002_b.sql': '-- migrate:up\ncreate table b (x int);\n',
      '0003_bad.sql': '-- migrate:up\ncreate table c (x int);\ninsert into c values (no_such_column);\n',
    })
    const log = captureLog()
    const error = (await createMigrator({ url: `sqlite:${file}`, dir, logger: log.logger }).run().then(
      () => expect.unreachable('the run should fail'),
      (e: unknown) => e,
    )) as MigrationError
    expect(error).toMatchObject({ code: 'MIGRATION_FAILED', revision: '0003', line: 3 })
    expect(error.message).toContain('0003_bad.sql:3')
    const db = open(file)
    expect(tables(db)).toEqual(['a', 'b', 'boot_migrate_history'])
    expect(db.prepare('select id from boot_migrate_history order by id').pluck().all()).toEqual(['0001', '0002'])
    expect(log.text()).toContain('applying those again on their own')
  })

  it('run a revision that sets a PRAGMA in a transaction of its own, so the pragma never reaches the others', async () => {
    const file = await freshFile()
    const dir = await revisions({
      '0001_parent.sql': '-- migrate:up\ncreate table parent (id integer primary key);\ncreate table child (p integer references parent(id) on delete cascade);\ninsert into parent values (1), (2);\ninsert into child values (1), (2);\n',
      '0002_rebuild.sql':
        '-- migrate:up\nPRAGMA foreign_keys = OFF;\ncreate table parent_new (id integer primary key, name text);\ninsert into parent_new (id) select id from parent;\ndrop table parent;\nalter table parent_new rename to parent;\nPRAGMA foreign_keys = ON;\n',
      '0003_delete.sql': '-- migrate:up\ndelete from parent where id = 2;\n',
    })
    const r = await createMigrator({ url: `sqlite:${file}`, dir, logger: false }).run()
    expect(r.applied.map((a) => a.id)).toEqual(['0001', '0002', '0003'])
    // The rebuild kept the children (foreign keys off around its own transaction); the delete after it cascaded (on again).
    expect(open(file).prepare('select p from child order by p').pluck().all()).toEqual([1])
  })
})
