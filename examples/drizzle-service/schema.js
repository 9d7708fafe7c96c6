// The app's drizzle schema. `npx drizzle-kit generate` turns changes to it into ./drizzle.
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

export const authors = sqliteTable('authors', {
  id: integer('id').primaryKey(),
  name: text('name').notNull().default(''),
})

export const notes = sqliteTable(
  'notes',
  {
    id: integer('id').primaryKey(),
    authorId: integer('author_id').references(() => authors.id, { onDelete: 'cascade' }),
    body: text('body').notNull(),
  },
  (t) => [index('notes_author_id').on(t.authorId)],
)
