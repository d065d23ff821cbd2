-- The catalog's part of a C-STORE commit in fewer round trips. A receive used to wait for nine answers of
-- PostgreSQL (the slot read, the instance lock, the read again under it, BEGIN, the insert, the
-- aggregates, the study recount, COMMIT, the unlock); on a database across the network each one is a
-- network round trip, and an association waits for all of them before it answers its sender.
--
-- dicom_ingest_lock_instance takes the instance's session-level advisory lock and then reads the row's
-- objects, in one call. In a VOLATILE function every statement takes a fresh snapshot, so the read sees
-- every commit made before the lock was granted (one SELECT with both would read the snapshot taken
-- before it waited).
-- The bodies are single-quoted strings (quotes doubled) so the migration splitter sees one statement each.
CREATE FUNCTION dicom_ingest_lock_instance(p_sop_instance_uid text)
    RETURNS TABLE (listener_id uuid, object_uri text, metadata_uri text)
    LANGUAGE plpgsql VOLATILE AS '
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_lock(hashtextextended(p_sop_instance_uid, 0));
    RETURN QUERY SELECT i.listener_id, i.object_uri, i.metadata_uri FROM instances i
        WHERE i.sop_instance_uid = p_sop_instance_uid;
END
';

-- dicom_ingest_record_instance is the instance upsert with its aggregates (SQLCatalog.recordInstance;
-- the SQLite catalog runs the same steps as separate statements): one statement, so outside a
-- transaction block it is a transaction of its own, without BEGIN and COMMIT round trips.
--
-- - The insert is ON CONFLICT DO NOTHING: of two concurrent first receives one inserts, the other waits
--   for it and takes the repeat path, which locks the row before reading the values it replaces, so the
--   aggregate deltas are computed against the committed row.
-- - A repeat from another listener changes nothing and raises SQLSTATE DI409: the duplicate policy is per
--   listener, and a row is never re-pointed to another listener's target.
-- - The series and study rows get the instance's count and bytes (on a repeat, its old size leaves its
--   old series and study first, and a row left empty is deleted); then each study touched gets its series
--   count and modalities recounted. That recount runs after the study row is locked by the upsert, with
--   a snapshot of its own, so it sees every series a concurrent receive committed for the study.
-- - The association's counters, and the study's activity row (study events), are updated.
-- - p_patient_name_lower is the name as the service lowercases it (the same rule lowercases a search), not
--   lower(): that depends on the database's locale.
CREATE FUNCTION dicom_ingest_record_instance(
    p_sop_instance_uid text, p_sop_class_uid text, p_series_instance_uid text, p_study_instance_uid text,
    p_instance_number bigint, p_transfer_syntax_uid text, p_size_bytes bigint, p_stored_bytes bigint,
    p_object_uri text, p_metadata_uri text, p_sha256 text, p_listener_id uuid, p_association_id uuid,
    p_calling_ae_title text, p_called_ae_title text, p_peer_address text, p_received_at timestamptz,
    p_last_received_at timestamptz, p_patient_id text, p_patient_name text, p_patient_birth_date text,
    p_patient_sex text, p_study_date text, p_study_time text, p_study_description text,
    p_accession_number text, p_series_number bigint, p_series_description text, p_modality text,
    p_number_of_frames bigint, p_storage_state text, p_stored_at timestamptz, p_spool_id text,
    p_activity_at timestamptz, p_patient_name_lower text)
    RETURNS SETOF instances
    LANGUAGE plpgsql VOLATILE AS '
DECLARE
    stored instances;
    old_series text;
    old_study text;
    old_size bigint;
    old_listener uuid;
    series_delta bigint := 1;
    series_bytes bigint := p_size_bytes;
    study_delta bigint := 1;
    study_bytes bigint := p_size_bytes;
    recount text[] := ARRAY[p_study_instance_uid];
    uid text;
BEGIN
    UPDATE associations SET instances_received = instances_received + 1,
        bytes_received = bytes_received + p_size_bytes
    WHERE id = p_association_id;

    INSERT INTO instances (sop_instance_uid, sop_class_uid, series_instance_uid, study_instance_uid,
        instance_number, transfer_syntax_uid, size_bytes, stored_bytes, object_uri, metadata_uri, sha256,
        listener_id, association_id, calling_ae_title, called_ae_title, peer_address, received_at,
        last_received_at, receive_count, patient_id, patient_name, patient_birth_date, patient_sex,
        study_date, study_time, study_description, accession_number, series_number, series_description,
        modality, number_of_frames, storage_state, stored_at, spool_id)
    VALUES (p_sop_instance_uid, p_sop_class_uid, p_series_instance_uid, p_study_instance_uid,
        p_instance_number, p_transfer_syntax_uid, p_size_bytes, p_stored_bytes, p_object_uri, p_metadata_uri,
        p_sha256, p_listener_id, p_association_id, p_calling_ae_title, p_called_ae_title, p_peer_address,
        p_received_at, p_last_received_at, 1, p_patient_id, p_patient_name, p_patient_birth_date,
        p_patient_sex, p_study_date, p_study_time, p_study_description, p_accession_number, p_series_number,
        p_series_description, p_modality, p_number_of_frames, p_storage_state, p_stored_at, p_spool_id)
    ON CONFLICT (sop_instance_uid) DO NOTHING
    RETURNING * INTO stored;

    IF NOT FOUND THEN
        SELECT series_instance_uid, study_instance_uid, size_bytes, listener_id
            INTO old_series, old_study, old_size, old_listener
            FROM instances WHERE sop_instance_uid = p_sop_instance_uid FOR UPDATE;
        IF NOT FOUND THEN
            -- Deleted between the two statements (nothing in this catalog deletes instances): run again.
            RAISE EXCEPTION ''instance row vanished during upsert'' USING ERRCODE = ''40001'';
        END IF;
        IF old_listener <> p_listener_id THEN
            RAISE EXCEPTION ''SOP Instance UID is held by another listener'' USING ERRCODE = ''DI409'';
        END IF;
        UPDATE instances SET sop_class_uid = p_sop_class_uid, series_instance_uid = p_series_instance_uid,
            study_instance_uid = p_study_instance_uid, instance_number = p_instance_number,
            transfer_syntax_uid = p_transfer_syntax_uid, size_bytes = p_size_bytes,
            stored_bytes = p_stored_bytes, object_uri = p_object_uri, metadata_uri = p_metadata_uri,
            sha256 = p_sha256, listener_id = p_listener_id, association_id = p_association_id,
            calling_ae_title = p_calling_ae_title, called_ae_title = p_called_ae_title,
            peer_address = p_peer_address, patient_id = p_patient_id, patient_name = p_patient_name,
            patient_birth_date = p_patient_birth_date, patient_sex = p_patient_sex, study_date = p_study_date,
            study_time = p_study_time, study_description = p_study_description,
            accession_number = p_accession_number, series_number = p_series_number,
            series_description = p_series_description, modality = p_modality,
            number_of_frames = p_number_of_frames, storage_state = p_storage_state, stored_at = p_stored_at,
            spool_id = p_spool_id,
            last_received_at = GREATEST(last_received_at, p_last_received_at),
            receive_count = receive_count + 1
        WHERE sop_instance_uid = p_sop_instance_uid
        RETURNING * INTO stored;

        IF old_series = p_series_instance_uid THEN
            series_delta := 0;
            series_bytes := p_size_bytes - old_size;
        ELSE
            UPDATE series SET instance_count = instance_count - 1, total_bytes = total_bytes - old_size
                WHERE series_instance_uid = old_series;
            DELETE FROM series WHERE series_instance_uid = old_series AND instance_count <= 0;
        END IF;
        IF old_study = p_study_instance_uid THEN
            study_delta := 0;
            study_bytes := p_size_bytes - old_size;
        ELSE
            UPDATE studies SET instance_count = instance_count - 1, total_bytes = total_bytes - old_size
                WHERE study_instance_uid = old_study;
            DELETE FROM studies WHERE study_instance_uid = old_study AND instance_count <= 0;
        END IF;
        IF old_series <> p_series_instance_uid OR old_study <> p_study_instance_uid THEN
            recount := recount || old_study;
        END IF;
    END IF;

    INSERT INTO series AS s (series_instance_uid, study_instance_uid, modality, series_number,
        series_description, instance_count, total_bytes, first_received_at, last_received_at)
    VALUES (p_series_instance_uid, p_study_instance_uid, p_modality, p_series_number, p_series_description,
        series_delta, series_bytes, stored.received_at, stored.last_received_at)
    ON CONFLICT (series_instance_uid) DO UPDATE SET
        study_instance_uid = excluded.study_instance_uid,
        modality = COALESCE(excluded.modality, s.modality),
        series_number = COALESCE(excluded.series_number, s.series_number),
        series_description = COALESCE(excluded.series_description, s.series_description),
        instance_count = s.instance_count + excluded.instance_count,
        total_bytes = s.total_bytes + excluded.total_bytes,
        last_received_at = GREATEST(s.last_received_at, excluded.last_received_at);

    INSERT INTO studies AS t (study_instance_uid, patient_id, patient_name, patient_name_lower,
        patient_birth_date, study_date, study_time, study_description, accession_number, instance_count,
        total_bytes, first_received_at, last_received_at)
    VALUES (p_study_instance_uid, p_patient_id, p_patient_name, p_patient_name_lower, p_patient_birth_date,
        p_study_date, p_study_time, p_study_description, p_accession_number, study_delta, study_bytes,
        stored.received_at, stored.last_received_at)
    ON CONFLICT (study_instance_uid) DO UPDATE SET
        patient_id = COALESCE(excluded.patient_id, t.patient_id),
        patient_name = COALESCE(excluded.patient_name, t.patient_name),
        patient_name_lower = COALESCE(excluded.patient_name_lower, t.patient_name_lower),
        patient_birth_date = COALESCE(excluded.patient_birth_date, t.patient_birth_date),
        study_date = COALESCE(excluded.study_date, t.study_date),
        study_time = COALESCE(excluded.study_time, t.study_time),
        study_description = COALESCE(excluded.study_description, t.study_description),
        accession_number = COALESCE(excluded.accession_number, t.accession_number),
        instance_count = t.instance_count + excluded.instance_count,
        total_bytes = t.total_bytes + excluded.total_bytes,
        last_received_at = GREATEST(t.last_received_at, excluded.last_received_at);

    FOREACH uid IN ARRAY recount LOOP
        UPDATE studies SET
            series_count = (SELECT count(*) FROM series WHERE study_instance_uid = uid),
            modalities = (SELECT COALESCE(string_agg(DISTINCT modality, ''\'' ORDER BY modality), '''')
                FROM series WHERE study_instance_uid = uid AND modality IS NOT NULL)
        WHERE study_instance_uid = uid;
    END LOOP;

    INSERT INTO study_activity (study_instance_uid, listener_id, last_instance_at, dirty, revision)
    VALUES (p_study_instance_uid, p_listener_id, p_activity_at, true, 0)
    ON CONFLICT (study_instance_uid) DO UPDATE SET dirty = true, listener_id = excluded.listener_id,
        last_instance_at = excluded.last_instance_at;

    RETURN NEXT stored;
END
';
