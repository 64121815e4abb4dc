-- Sessions bound to a device key (RFC 9449 DPoP proofs, which the browser's WebCrypto key
-- sends too): once bound, a refresh must be signed by that key. The key is the public JWK
-- (domain::proof::DeviceKey), its thumbprint the device's identity. Null: never bound.
alter table sessions add column device_key text;
alter table sessions add column device_jkt text;

-- Proofs already accepted, by key and jti, until they are too old to be accepted anyway:
-- a proof is good for one request only.
create table spent_proofs (
    jkt        text not null,
    jti        text not null,
    expires_at timestamptz not null,
    primary key (jkt, jti)
);
create index spent_proofs_expiry on spent_proofs (expires_at);

-- Whether the event's client proved the session's device key (a bound session's refresh,
-- a sign-in that bound one): shown in the log and the live view.
alter table user_activity_logs add column device_proven boolean not null default false;
