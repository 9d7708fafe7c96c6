-- migrate:up
create table notes (
  id bigint generated always as identity primary key,
  body text not null,
  created_at timestamptz not null default now()
);
insert into notes (body) values ('migrated at boot by boot-migrate');

-- migrate:down
drop table notes;
