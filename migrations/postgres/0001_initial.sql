-- The original design's three tables (users, refresh_tokens, user_activity_logs) plus the
-- access-token signing keys. Numbered in step with migrations/sqlite: a change to one is a
-- new file in both, never an edit of an applied one.

create table users (
    id              bigserial primary key,
    -- stored lowercase by the application, so uniqueness is case-insensitive
    username        text not null unique,
    email           text not null unique,
    hashed_password text not null,
    is_active       boolean not null default true,
    is_admin        boolean not null default false,
    created_at      timestamptz not null,
    updated_at      timestamptz not null
);

-- One row per refresh token, only ever its SHA-256. Tokens of one sign-in share a
-- session_id (the token family), so a session is revoked as a whole.
create table refresh_tokens (
    id          bigserial primary key,
    user_id     bigint not null references users (id) on delete cascade,
    session_id  text not null,
    token_hash  text not null unique,
    device_info text not null default 'Unknown',
    ip_address  text not null default '0.0.0.0',
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    is_revoked  boolean not null default false,
    revoked_at  timestamptz
);
create index refresh_tokens_session_idx on refresh_tokens (session_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);

-- The security record. user_id is nullable (a failed sign-in may name no account) and
-- survives the user's deletion: the log must outlive what it is about.
create table user_activity_logs (
    id                  bigserial primary key,
    user_id             bigint references users (id) on delete set null,
    username            text,
    event_type          text not null,
    ip_address          text not null,
    device_info         text not null,
    risk_score          double precision not null default 0,
    geolocation_country text,
    geolocation_city    text,
    created_at          timestamptz not null
);
create index user_activity_logs_user_idx on user_activity_logs (user_id, id desc);
create index user_activity_logs_created_idx on user_activity_logs (created_at);

-- Access-token signing keys, generated on first start unless configured. Exactly one is
-- active; retired ones stay to verify tokens issued before a rotation.
create table signing_keys (
    kid        text primary key,
    algorithm  text not null,
    secret     text not null,
    status     text not null check (status in ('active', 'retired')),
    created_at timestamptz not null
);
create unique index signing_keys_one_active on signing_keys (status) where status = 'active';
