-- An index built without blocking writes: it cannot run inside a transaction.
-- migrate:up
-- migrate:no-transaction
create index concurrently if not exists notes_created_at on notes (created_at);

-- migrate:down
-- migrate:no-transaction
drop index concurrently if exists notes_created_at;
