-- dicom-ingest catalog, SQLite dialect. Applied files are never edited: add a new numbered file.
-- Timestamps are integer microseconds since 1970-01-01 UTC; UUIDs are uppercase text. List/struct fields of listeners are JSON text.

CREATE TABLE listeners (
    id text PRIMARY KEY,
    name text NOT NULL,
    enabled integer NOT NULL,
    port integer NOT NULL,
    bind_address text NOT NULL,
    ae_title text NOT NULL,
    require_called_ae_title integer NOT NULL,
    allowed_calling_ae_titles text NOT NULL,
    allowed_peers text NOT NULL,
    tls text,
    storage text NOT NULL,
    limits text NOT NULL,
    state text NOT NULL,
    error text,
    created_at integer NOT NULL,
    updated_at integer NOT NULL,
    CONSTRAINT listeners_name_key UNIQUE (name),
    CONSTRAINT listeners_port_key UNIQUE (port)
);

-- No foreign keys to listeners: deleting a listener keeps what it received.
CREATE TABLE associations (
    id text PRIMARY KEY,
    listener_id text NOT NULL,
    calling_ae_title text NOT NULL,
    called_ae_title text NOT NULL,
    peer_address text NOT NULL,
    started_at integer NOT NULL,
    ended_at integer,
    outcome text NOT NULL,
    reject_reason text,
    instances_received integer NOT NULL DEFAULT 0,
    instances_failed integer NOT NULL DEFAULT 0,
    bytes_received integer NOT NULL DEFAULT 0
);
CREATE INDEX associations_started_idx ON associations (started_at, id);
CREATE INDEX associations_listener_started_idx ON associations (listener_id, started_at, id);

CREATE TABLE instances (
    sop_instance_uid text PRIMARY KEY,
    sop_class_uid text NOT NULL,
    series_instance_uid text NOT NULL,
    study_instance_uid text NOT NULL,
    instance_number integer,
    transfer_syntax_uid text NOT NULL,
    size_bytes integer NOT NULL,
    stored_bytes integer NOT NULL,
    object_uri text NOT NULL,
    metadata_uri text,
    sha256 text NOT NULL,
    listener_id text NOT NULL,
    association_id text NOT NULL,
    calling_ae_title text NOT NULL,
    called_ae_title text NOT NULL,
    peer_address text NOT NULL,
    received_at integer NOT NULL,
    last_received_at integer NOT NULL,
    receive_count integer NOT NULL,
    patient_id text,
    patient_name text,
    patient_birth_date text,
    patient_sex text,
    study_date text,
    study_time text,
    study_description text,
    accession_number text,
    series_number integer,
    series_description text,
    modality text,
    number_of_frames integer
);
-- Page order of a series: instance number (absent last), then UID. The expression must match the queries.
CREATE INDEX instances_series_number_idx
    ON instances (series_instance_uid, (COALESCE(instance_number, 9223372036854775807)), sop_instance_uid);
CREATE INDEX instances_received_idx ON instances (received_at);
CREATE INDEX instances_listener_study_idx ON instances (listener_id, study_instance_uid);
CREATE INDEX instances_calling_study_idx ON instances (calling_ae_title, study_instance_uid);
CREATE INDEX instances_study_idx ON instances (study_instance_uid);

-- Aggregates, kept up to date in the instance transaction so dashboards never scan instances.
-- first_received_at is set when the row is created and never changes: it is the page order.
CREATE TABLE studies (
    study_instance_uid text PRIMARY KEY,
    patient_id text,
    patient_name text,
    patient_name_lower text,
    patient_birth_date text,
    study_date text,
    study_time text,
    study_description text,
    accession_number text,
    modalities text NOT NULL DEFAULT '',
    series_count integer NOT NULL DEFAULT 0,
    instance_count integer NOT NULL DEFAULT 0,
    total_bytes integer NOT NULL DEFAULT 0,
    first_received_at integer NOT NULL,
    last_received_at integer NOT NULL
);
CREATE INDEX studies_first_received_idx ON studies (first_received_at, study_instance_uid);
CREATE INDEX studies_last_received_idx ON studies (last_received_at);
CREATE INDEX studies_patient_id_idx ON studies (patient_id);
CREATE INDEX studies_study_date_idx ON studies (study_date);
CREATE INDEX studies_accession_idx ON studies (accession_number);

CREATE TABLE series (
    series_instance_uid text PRIMARY KEY,
    study_instance_uid text NOT NULL,
    modality text,
    series_number integer,
    series_description text,
    instance_count integer NOT NULL DEFAULT 0,
    total_bytes integer NOT NULL DEFAULT 0,
    first_received_at integer NOT NULL,
    last_received_at integer NOT NULL
);
CREATE INDEX series_study_idx ON series (study_instance_uid, modality);
