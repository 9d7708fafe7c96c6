-- migrate:up
alter table users add column full_name text;
create function users_full_name() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then new.full_name := coalesce(new.full_name, new.name);
  elsif new.name is distinct from old.name then new.full_name := new.name;
  end if;
  return new;
end $$;
create trigger users_full_name before insert or update on users
  for each row execute function users_full_name();

-- migrate:down
drop trigger users_full_name on users;
drop function users_full_name();
alter table users drop column full_name;
