-- Where each event came from and what was decided about it, the places of sessions, and
-- the failed-sign-in counters that throttle guessing. Numbered in step with
-- migrations/postgres.

-- The activity log learns the rest of a place (coordinates, how coarse they are, the
-- network's AS), the parsed device, and the risk engine's reasons and decision. Rows
-- written before this migration keep nulls: nothing is invented for them.
alter table user_activity_logs add column latitude double precision;
alter table user_activity_logs add column longitude double precision;
-- kilometres; null when the database does not say (ip-location-db's flat schema)
alter table user_activity_logs add column accuracy_radius_km integer;
alter table user_activity_logs add column asn bigint;
alter table user_activity_logs add column asn_org text;
alter table user_activity_logs add column device_browser text;
alter table user_activity_logs add column device_os text;
alter table user_activity_logs add column device_type text;
-- a JSON array of short reason codes
alter table user_activity_logs add column risk_reasons text not null default '[]';
alter table user_activity_logs add column decision text not null default 'allow';

-- The admin search filters by name, event type and risk, newest first (keyset on id).
create index user_activity_logs_username_idx on user_activity_logs (username, id);
create index user_activity_logs_type_idx on user_activity_logs (event_type, id);
create index user_activity_logs_risk_idx on user_activity_logs (risk_score, id);

-- The Devices page shows where a session was last used.
alter table sessions add column country text;
alter table sessions add column city text;

-- Failed sign-in counters, one row per throttling key ("ip:…", "account-ip:…",
-- "account:…"). In the database, not in memory, so every instance sees the same counts.
create table login_throttle (
    key             text primary key,
    failures        integer not null,
    -- no attempt under this key is heard before this time
    blocked_until   timestamptz not null,
    last_failure_at timestamptz not null
);
create index login_throttle_last_idx on login_throttle (last_failure_at);

-- Networks (IPv4 /24, IPv6 /48) each user has signed in from. An account under attack
-- from elsewhere stays open from these, so throttling cannot lock the owner out.
create table known_networks (
    user_id      bigint not null references users (id) on delete cascade,
    network      text not null,
    last_seen_at timestamptz not null,
    primary key (user_id, network)
);
