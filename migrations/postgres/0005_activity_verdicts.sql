-- What a person said about an event after the fact: the user's "this wasn't me", or an
-- admin's "legitimate" / "compromised". Null until someone says something. Numbered in
-- step with migrations/postgres.
alter table user_activity_logs add column verdict text;
alter table user_activity_logs add column verdict_by text;
alter table user_activity_logs add column verdict_at timestamptz;
