-- Live activity across instances: every committed activity row is announced on channel
-- `fin_activity` as `<schema>:<id>`, so each instance can stream events that another one
-- wrote (GET /api/admin/stream). NOTIFY is delivered at commit, so a rolled-back row is
-- never announced, and rows are announced in commit order even when their ids are not.
-- Channels are database-wide: the schema tells deployments sharing a database apart.
create function fin_announce_activity() returns trigger
language plpgsql as $$
begin
    perform pg_notify('fin_activity', current_schema() || ':' || new.id::text);
    return null;
end
$$;

create trigger user_activity_logs_announce
    after insert on user_activity_logs
    for each row execute function fin_announce_activity();
