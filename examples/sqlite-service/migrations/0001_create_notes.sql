-- migrate:up
create table notes (
  id integer primary key,
  body text not null,
  created_at text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- migrate:down
drop table notes;
