-- Per-listener allow-list of Storage SOP Class UIDs (JSON array text, like the other list columns).
-- '[]' accepts every Storage SOP class of the registry, as every listener did before this column.
ALTER TABLE listeners ADD COLUMN allowed_sop_classes text NOT NULL DEFAULT '[]';
