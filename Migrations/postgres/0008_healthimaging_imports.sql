-- AWS HealthImaging import jobs started by `healthimaging` sinks: one row per study event, sink and part
-- (0 for the whole study, 1... for the series groups of a study too large for one job). The poller follows
-- each job until COMPLETED or FAILED and reads its failure manifest; `polling` stays true until then, so a
-- restart resumes where it stopped. `GET /v1/studies/{uid}` shows them as `imports`.
CREATE TABLE healthimaging_imports (
    event_id uuid NOT NULL,
    sink_id uuid NOT NULL,
    part bigint NOT NULL,
    study_instance_uid text NOT NULL,
    datastore_id text NOT NULL,
    input_s3_uri text NOT NULL,
    output_s3_uri text NOT NULL,
    client_token text NOT NULL,
    job_id text NOT NULL,
    status text NOT NULL,
    submitted_at timestamptz NOT NULL,
    ended_at timestamptz,
    failure_count bigint,
    message text,
    polling boolean NOT NULL,
    next_poll_at timestamptz NOT NULL,
    poll_attempts bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (event_id, sink_id, part)
);
CREATE INDEX healthimaging_imports_study_idx ON healthimaging_imports (study_instance_uid);
CREATE INDEX healthimaging_imports_poll_idx ON healthimaging_imports (next_poll_at) WHERE polling;
