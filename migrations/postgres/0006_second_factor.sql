-- TOTP second factors, their recovery codes, and pending step-up challenges. Numbered in
-- step with migrations/postgres.

-- One authenticator per user. `confirmed_at` is null while enrolment waits for the first
-- code; `last_step` is the last 30-second step used, so every code works once.
create table totp_factors (
    user_id      bigint primary key references users (id) on delete cascade,
    secret       text not null,
    confirmed_at timestamptz,
    last_step    bigint,
    created_at   timestamptz not null
);

-- Single-use recovery codes, only as SHA-256.
create table recovery_codes (
    user_id   bigint not null references users (id) on delete cascade,
    code_hash text not null,
    used_at   timestamptz,
    primary key (user_id, code_hash)
);

-- A sign-in that passed the password but must show a second factor: short-lived, a few
-- attempts, used once. The risk assessment rides along into the final log row.
create table step_up_challenges (
    id           text primary key,
    user_id      bigint not null references users (id) on delete cascade,
    created_at   timestamptz not null,
    expires_at   timestamptz not null,
    attempts     integer not null default 0,
    consumed_at  timestamptz,
    risk_score   double precision not null,
    risk_reasons text not null
);
