-- migrate:up
create table users (id bigint generated always as identity primary key, name text);

-- migrate:down
drop table users;
