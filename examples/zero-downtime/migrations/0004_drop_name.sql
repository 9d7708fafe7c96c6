-- migrate:phase contract
-- migrate:up
drop trigger users_full_name on users;
drop function users_full_name();
alter table users drop column name;
