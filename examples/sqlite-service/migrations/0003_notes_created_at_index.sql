-- migrate:up
create index notes_created_at on notes (created_at);

-- migrate:down
drop index notes_created_at;
