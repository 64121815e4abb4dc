-- Finds the other sessions bound to one device key (a key in use in two countries at once
-- has been copied). Most sessions are never bound: only bound ones are indexed.
create index sessions_device_jkt_idx on sessions (device_jkt, last_used_at) where device_jkt is not null;
