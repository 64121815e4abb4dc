-- The admin search's time ranges read (created_at, id) pairs from the index alone, then
-- take the newest ids; the bare created_at index this replaces served nothing the new one
-- does not, and one index fewer is one write fewer per logged event.
drop index user_activity_logs_created_idx;
create index user_activity_logs_created_id_idx on user_activity_logs (created_at, id);
