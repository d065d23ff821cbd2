-- Spooled acknowledgement: an instance is `spooled` (its Part10 object and JSON are durable in the
-- local spool and the row is committed) until the forwarder has written it to the listener's target,
-- then `stored` with `stored_at`; `lost` when a spooled row's spool file is gone. Rows written before
-- this migration are all `stored` (a `stored` listener answers only after the object store).
ALTER TABLE instances ADD COLUMN storage_state text NOT NULL DEFAULT 'stored';
ALTER TABLE instances ADD COLUMN stored_at integer;
UPDATE instances SET stored_at = last_received_at;
-- Forwarding work is claimed by setting a lease: a failed attempt sets the lease to the time of the
-- next retry.
ALTER TABLE instances ADD COLUMN forward_owner text;
ALTER TABLE instances ADD COLUMN forward_lease_until integer;
ALTER TABLE instances ADD COLUMN forward_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX instances_spooled_idx ON instances (last_received_at) WHERE storage_state = 'spooled';
-- The spool a spooled row's files are in (the identity stored in the spool folder): a node forwards
-- only rows of the spool it can read, so a node with its own local spool never takes another's rows
-- for lost, while nodes sharing one spool volume all drain it.
ALTER TABLE instances ADD COLUMN spool_id text;
-- `lost` rows are counted for /v1/stats and the metrics every few seconds: without a scan of every row.
CREATE INDEX instances_lost_idx ON instances (sop_instance_uid) WHERE storage_state = 'lost';
