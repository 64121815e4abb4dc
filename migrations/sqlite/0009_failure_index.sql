-- The sign-in's failure signals count failed sign-ins from one address; the index on every
-- event's address made that count read each success and refresh from the address too (a
-- whole office behind one NAT). Indexing the failures alone keeps it to the failures, and
-- every other event is one index write cheaper.
drop index user_activity_logs_ip_idx;
create index user_activity_logs_failures_idx on user_activity_logs (ip_address, created_at)
  where event_type = 'login_failed';
