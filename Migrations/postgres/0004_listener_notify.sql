-- Nodes sharing this catalog learn of listener changes at once: every insert, delete, or update of a
-- listener's configuration sends NOTIFY on channel `dicom_ingest_listeners` (payload: the listener id).
-- PostgreSQL delivers it when the writing transaction commits, and never when it rolls back. Updates of
-- `state` and `error` alone are each node's report of what it runs, not a change to reconcile with.
-- The body is a single-quoted string (quotes doubled) so the migration splitter sees one statement.
CREATE FUNCTION dicom_ingest_notify_listener_change() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF TG_OP = ''DELETE'' THEN
        PERFORM pg_notify(''dicom_ingest_listeners'', OLD.id::text);
        RETURN NULL;
    END IF;
    IF TG_OP = ''UPDATE'' AND (to_jsonb(NEW) - ''state'' - ''error'') = (to_jsonb(OLD) - ''state'' - ''error'') THEN
        RETURN NULL;
    END IF;
    PERFORM pg_notify(''dicom_ingest_listeners'', NEW.id::text);
    RETURN NULL;
END
';

CREATE TRIGGER listeners_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON listeners
    FOR EACH ROW EXECUTE FUNCTION dicom_ingest_notify_listener_change();
