-- Refused connection attempts are coalesced: one row stands for every attempt of one peer with one
-- reject reason within an interval, and `attempts` counts them (1 for every other association).
ALTER TABLE associations ADD COLUMN attempts bigint NOT NULL DEFAULT 1;
