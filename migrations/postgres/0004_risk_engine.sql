-- The risk engine's memory: each user's learned profile, the population's counts, and
-- each session's baseline for judging its refreshes. Numbered in step with
-- migrations/postgres.

-- One JSON document per user (decayed counts over hierarchical feature keys; device
-- cookies only as SHA-256). Written after each accepted sign-in or refresh.
create table risk_profiles (
    user_id    bigint primary key references users (id) on delete cascade,
    profile    text not null,
    updated_at timestamptz not null
);

-- The population's counts, one row per key (a provider, a network, an hour, a total).
-- Only ever incremented, so instances writing at once never lose each other's counts.
create table risk_population (
    key   text primary key,
    count double precision not null
);

-- What a session looked like at sign-in and lately (JSON): the yardstick for refreshes.
alter table sessions add column risk_baseline text;

-- Failed sign-ins by address, for the stuffing and "failed just before" signals.
create index user_activity_logs_ip_idx on user_activity_logs (ip_address, created_at);
