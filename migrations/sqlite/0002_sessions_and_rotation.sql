-- Sessions become rows of their own (the Devices page lists them, revocation ends them as a
-- whole), and refresh tokens learn rotation: a spent token records when it was spent and
-- the hash of the successor it was exchanged for, so a replay can be told apart from a
-- retry (grace window) or a theft (reuse: the whole family is revoked).

create table sessions (
    id            text primary key,
    user_id       integer not null references users (id) on delete cascade,
    device_info   text not null,
    -- the address of the latest sign-in or refresh
    ip_address    text not null,
    created_at    text not null,
    last_used_at  text not null,
    -- the absolute lifetime: rotation never extends it
    expires_at    text not null,
    revoked_at    text,
    revoke_reason text
);
create index sessions_user_idx on sessions (user_id, last_used_at desc);

-- Sessions opened before this migration: one row per token family.
insert into sessions (id, user_id, device_info, ip_address, created_at, last_used_at, expires_at, revoked_at, revoke_reason)
select session_id, min(user_id), min(device_info), min(ip_address), min(created_at), max(created_at), max(expires_at),
       case when min(case when is_revoked then 1 else 0 end) = 1 then max(revoked_at) end,
       case when min(case when is_revoked then 1 else 0 end) = 1 then 'logout' end
from refresh_tokens
group by session_id;

alter table refresh_tokens add column spent_at text;
alter table refresh_tokens add column successor_hash text;

-- Server-side secrets other than signing keys (the refresh-successor key), generated on
-- first start and shared by every instance.
create table server_secrets (
    name       text primary key,
    secret     text not null,
    created_at text not null
);
