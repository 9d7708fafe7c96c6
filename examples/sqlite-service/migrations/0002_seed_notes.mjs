// A JS revision: runs inside the same kind of transaction as a SQL one, with its history row.
export async function up({ query, log }) {
  const notes = ['boot-migrate applied this row at boot', 'run `npm run example` again: the boot check is one query']
  for (const body of notes) await query('insert into notes (body) values (?)', [body])
  log(`seeded ${notes.length} notes`)
}

export async function down({ exec }) {
  await exec('delete from notes')
}
