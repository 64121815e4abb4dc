-- Passkeys (WebAuthn discoverable credentials) and the ceremonies in progress. Numbered in
-- step with migrations/postgres.

-- One row per credential. `credential_id` (base64url) is unique across every account: a
-- credential registered twice would let its holder choose which account it opens.
-- `user_handle` is the WebAuthn user id the credential was made for (a UUID, the same for
-- all of a user's passkeys), which a discoverable sign-in returns and is checked against.
-- `credential` is webauthn-rs's record: the public key, the signature counter, the flags.
create table passkeys (
    id              text primary key,
    user_id         integer not null references users (id) on delete cascade,
    credential_id   text not null unique,
    user_handle     text not null,
    name            text not null,
    credential      text not null,
    backup_eligible boolean not null,
    backed_up       boolean not null,
    created_at      text not null,
    last_used_at    text
);
create index passkeys_user on passkeys (user_id, created_at);

-- A WebAuthn ceremony started and not yet finished: its state (the challenge) kept here, so
-- any instance can finish it, and taken by the one that does (a delete), so it works once.
-- `user_id` is who started a registration or a step-up; null for a sign-in, whose user the
-- passkey names.
create table passkey_ceremonies (
    id         text primary key,
    purpose    text not null,
    user_id    integer references users (id) on delete cascade,
    state      text not null,
    expires_at text not null
);
create index passkey_ceremonies_expiry on passkey_ceremonies (expires_at);
