-- Numbered in step with migrations/postgres. SQLite has one writer, the process itself,
-- so new activity is announced in memory (storage::ActivitySignal) and needs no schema.
select 1;
