-- Events written on the ingest path (dicom-ingest.instance.stored, dicom-ingest.association.ended): their
-- transaction writes the event row only, one row whatever the number of sinks, with fanout_pending set;
-- the dispatcher then creates one delivery per sink that wants it and clears the flag. Study events get
-- their deliveries when they are announced, so every earlier row is already fanned out.
ALTER TABLE events ADD COLUMN fanout_pending integer NOT NULL DEFAULT 0;
CREATE INDEX events_fanout_idx ON events (created_at) WHERE fanout_pending;
