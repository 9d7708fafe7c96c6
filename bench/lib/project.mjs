// A migrations folder shaped like a real project's history, for the cold-start scenario (5): 135 revisions, several
// thousand statements, files from 1 kB to 50 kB, PostgreSQL functions and triggers in dollar quotes (SQLite: triggers
// with BEGIN … END bodies), seed rows, views. Deterministic (a fixed seed), so every run measures the same folder.

/** A small deterministic generator (mulberry32). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pad = (n) => String(n).padStart(4, '0')
const WORDS = ['account', 'invoice', 'order', 'product', 'customer', 'shipment', 'payment', 'audit', 'session', 'tenant', 'role', 'grant', 'event', 'report', 'price', 'stock']

/**
 * The revisions: { id, name, statements }. `dialect` is 'pg' or 'sqlite'. Revision 0 creates the tables the others
 * build on; every later one adds a table or alters one, indexes, functions/triggers, views and seed rows, and a few
 * are large data revisions (tens of kB of INSERTs).
 */
export function projectRevisions(dialect, count = 135, seed = 13) {
  const r = rng(seed)
  const pick = (xs) => xs[Math.floor(r() * xs.length)]
  const pg = dialect === 'pg'
  const tables = []
  const out = []
  for (let i = 0; i < count; i++) {
    const st = []
    const t = `${pick(WORDS)}_${pad(i)}`
    const cols = 4 + Math.floor(r() * 14)
    const defs = [pg ? 'id bigserial primary key' : 'id integer primary key autoincrement']
    for (let c = 0; c < cols; c++)
      defs.push(`${pick(WORDS)}_c${c} ${pick(pg ? ['text', 'integer', 'bigint', 'boolean default false', 'numeric(12,2)', 'timestamptz default now()', 'jsonb'] : ['text', 'integer', 'real', "text default ''", 'blob'])}`)
    defs.push("label text not null default ''")
    if (tables.length) defs.push(`parent_id ${pg ? 'bigint' : 'integer'} references "${pick(tables)}"(id)`)
    st.push(`-- ${t}: ${pick(WORDS)} records for the ${pick(WORDS)} module\ncreate table "${t}" (\n  ${defs.join(',\n  ')}\n)`)
    tables.push(t)
    for (let k = 0, n = 1 + Math.floor(r() * 4); k < n; k++) st.push(`create index "${t}_i${k}" on "${t}" (${pick(WORDS)}_c${Math.floor(r() * cols)})`.replace(/\((\w+)_c(\d+)\)/, (m, w, c) => `(${defs[1 + Number(c)].split(' ')[0]})`))
    const other = pick(tables)
    for (let k = 0, n = Math.floor(r() * 4); k < n; k++) st.push(`alter table "${other}" add column "extra_${pad(i)}_${k}" ${pg ? 'text' : 'text'}`)
    if (pg && r() < 0.5) {
      // A plpgsql function with semicolons, quotes and a nested dollar quote in its body, and its trigger.
      st.push(
        `create or replace function "${t}_touch"() returns trigger language plpgsql as $fn$\ndeclare\n  note text := 'it''s; fine';\nbegin\n  if tg_op = 'UPDATE' then\n    perform 1;\n    execute $q$select 1; select 2$q$;\n  end if;\n  return new;\nend;\n$fn$`,
        `create trigger "${t}_touch" before update on "${t}" for each row execute function "${t}_touch"()`,
      )
    }
    if (!pg && r() < 0.5)
      st.push(`create trigger "${t}_touch" after update on "${t}" for each row begin\n  update "${t}" set ${defs[1].split(' ')[0]} = ${defs[1].split(' ')[0]} where id = new.id and 0;\n  select 1;\nend`)
    if (r() < 0.3) st.push(`create view "${t}_v" as select id, ${defs[1].split(' ')[0]} from "${t}" where id > 0`)
    // Seed rows: most revisions a few, one in eight tens of kB (a data revision).
    const big = r() < 0.125
    const rows = big ? 120 + Math.floor(r() * 260) : 2 + Math.floor(r() * 20)
    const col = defs[1].split(' ')[0]
    for (let k = 0; k < rows; k++) st.push(`insert into "${t}" (label) values ('${pick(WORDS)} ${k}; row of ${t} -- not a comment, it''s data')`)
    out.push({ id: pad(i), name: `${pick(WORDS)}_${pick(WORDS)}`, statements: st })
  }
  return out
}
