-- Study-complete events (CloudEvents 1.0), delivered through a transactional outbox.
-- Per listener: seconds without a new instance after which a study is stable; NULL turns events off.
ALTER TABLE listeners ADD COLUMN study_stable_seconds integer DEFAULT 60;

-- The outbox marker: the instance transaction upserts this row (dirty, time of the last instance), the
-- one write events add to the C-STORE path. The dispatcher announces a study once it has been quiet
-- for its listener's period, and counts the revisions it announced.
CREATE TABLE study_activity (
    study_instance_uid text PRIMARY KEY,
    listener_id text NOT NULL,
    last_instance_at integer NOT NULL,
    dirty integer NOT NULL,
    revision integer NOT NULL DEFAULT 0
);
CREATE INDEX study_activity_dirty_idx ON study_activity (last_instance_at) WHERE dirty;

-- Where events go. `settings` is the kind's JSON (URL, ARNs, …); `secret` is never returned by the API.
CREATE TABLE event_sinks (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    enabled integer NOT NULL,
    settings text NOT NULL,
    secret text,
    event_types text NOT NULL,
    listener_ids text NOT NULL,
    created_at integer NOT NULL,
    updated_at integer NOT NULL,
    CONSTRAINT event_sinks_name_key UNIQUE (name)
);

-- Each event as delivered: `body` is the CloudEvents JSON, byte for byte the same on every attempt.
CREATE TABLE events (
    id text PRIMARY KEY,
    type text NOT NULL,
    subject text NOT NULL,
    listener_id text,
    revision integer NOT NULL,
    body text NOT NULL,
    created_at integer NOT NULL
);
CREATE INDEX events_created_idx ON events (created_at, id);

-- One row per event and sink. A node claims due rows with a lease (lease_owner, lease_until); a lease that
-- runs out (a node that died mid-delivery) makes the row claimable again, so delivery is at least once.
CREATE TABLE event_deliveries (
    event_id text NOT NULL,
    sink_id text NOT NULL,
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at integer NOT NULL,
    lease_owner text,
    lease_until integer,
    last_error text,
    last_attempt_at integer,
    delivered_at integer,
    created_at integer NOT NULL,
    PRIMARY KEY (event_id, sink_id)
);
CREATE INDEX event_deliveries_due_idx ON event_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX event_deliveries_sink_idx ON event_deliveries (sink_id, status);

-- Every delivery attempt with its outcome.
CREATE TABLE event_attempts (
    event_id text NOT NULL,
    sink_id text NOT NULL,
    attempt integer NOT NULL,
    started_at integer NOT NULL,
    duration_ms integer NOT NULL,
    outcome text NOT NULL,
    error text,
    PRIMARY KEY (event_id, sink_id, attempt)
);
