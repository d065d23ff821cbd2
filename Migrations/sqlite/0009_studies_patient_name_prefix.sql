-- `GET /v1/studies?patientName=DOE^J*`: the filter is a prefix match on `patient_name_lower` (LIKE 'doe^j%').
-- SQLite answers a LIKE prefix from an index only when the index collates as LIKE compares, which is
-- case-insensitively (NOCASE) unless case_sensitive_like is set; the column already holds lowercase text.
CREATE INDEX studies_patient_name_prefix_idx ON studies (patient_name_lower COLLATE NOCASE);
