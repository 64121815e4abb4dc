-- Recovery codes are now stored as an HMAC under a server key. Codes made before stay
-- usable (looked up by their plain SHA-256) until their owner makes new ones.
alter table recovery_codes add column keyed boolean not null default false;
