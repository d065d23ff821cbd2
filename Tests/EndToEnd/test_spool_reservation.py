"""The spool quota is a reservation taken while an instance streams in: an instance that crosses
DICOM_INGEST_SPOOL_MAX_BYTES part-way (the spool was not full when it started) is answered A700 with an
Error Comment, nothing of it stays in the spool (no temp file, no row), and it is accepted once the backlog
has drained to S3."""
import os

import checks
import corpus
from test_spool import (S3Proxy, instance, own_service, pynetdicom_send, sop, spool_files, spooled_listener,
                        wait_all_stored)
from conftest import READ_TOKEN, wait_for


def test_instance_crossing_the_quota_mid_stream_is_refused_whole(binary, s3_settings, fresh_database_url, bucket, s3,
                                                                 tmp_path):
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    # Room for about three 0.5 MB instances: two of them fill half of it, the 1 MB one then crosses the limit.
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_SPOOL_MAX_BYTES="1600000")
    spool_dir = os.path.join(data_dir, "spool")
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False, createMetadata=False)
        proxy.cut()  # nothing drains: the backlog stays in the spool
        backlog = [corpus.build_multiframe(str(tmp_path), frames=4, rows=256, columns=256 + 2 * i, name=f"backlog_{i}.dcm")
                   for i in range(2)]   # ~0.52 MB each
        big = corpus.build_multiframe(str(tmp_path), frames=8, rows=256, columns=256, name="crossing.dcm")  # ~1.05 MB
        assert [s for s, _ in pynetdicom_send(port, backlog)] == [0, 0]
        used_before = sum(os.path.getsize(p) for p in spool_files(spool_dir))
        assert used_before < 1600000 < used_before + os.path.getsize(big), "the big instance must start below and cross the quota"
        # The spool is not full when the big instance starts: refused part-way, not up front.
        status, body, _ = svc.request("GET", "/readyz", token=READ_TOKEN)
        assert status == 200, body

        [(code, comment)] = pynetdicom_send(port, [big])
        assert code == 0xA700, (hex(code), comment)
        assert comment.startswith("Spool full"), comment
        assert instance(svc, sop(big)) is None, "a refused instance has a row"
        # Nothing half-written: the spool holds exactly the two accepted instances, no temp file.
        left = spool_files(spool_dir)
        assert len(left) == 2 and not any(".tmp-" in p for p in left), left
        assert sum(os.path.getsize(p) for p in left) == used_before

        proxy.start()
        wait_all_stored(svc, [sop(p) for p in backlog], timeout=180)
        wait_for(lambda: not spool_files(spool_dir), timeout=60, what="spool drained")
        [(code, comment)] = pynetdicom_send(port, [big])
        assert code == 0, (hex(code), comment)
        [row] = wait_all_stored(svc, [sop(big)], timeout=180)
        with open(big, "rb") as f:
            sent = f.read()
        body = s3.get_object(Bucket=bucket, Key=row["objectUri"].split("/", 3)[3])["Body"].read()
        checks.check_part10(body, big, calling_ae="SPOOLSCU", called_ae="STORESCP")
        assert row["sizeBytes"] == len(body) and len(sent) > 1000000
    finally:
        proxy.stop()
        assert svc.stop() == 0, svc.log_text()
