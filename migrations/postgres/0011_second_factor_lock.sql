-- Wrong second-factor answers in a row, across every challenge, and when they locked the
-- factor: someone holding the password must not get endless fresh challenges to guess in.
alter table totp_factors add column failures integer not null default 0;
alter table totp_factors add column locked_at timestamptz;
