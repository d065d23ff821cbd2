"""/readyz while S3 is unreachable: a target that only `spooled` listeners use does not make the service
unready (the spool absorbs the outage; the body shows the backlog and its age), a target a `stored`
listener uses does (503), and so does the spool reaching its quota."""
import os
import time

from test_spool import (S3Proxy, explicit_files, metric, own_service, pynetdicom_send, sop, spooled_listener,
                        wait_all_stored)
from conftest import READ_TOKEN, free_port, wait_for


def checks_by_name(svc):
    status, body, _ = svc.request("GET", "/readyz", token=READ_TOKEN)
    return status, {c["name"]: c for c in body["checks"]}


def test_readyz_stays_200_while_the_spool_absorbs_an_s3_outage(binary, s3_settings, fresh_database_url, bucket, s3,
                                                                corpus_dir, tmp_path):
    proxy = S3Proxy(s3_settings["endpoint"]).start()
    svc, data_dir = own_service(binary, s3_settings, fresh_database_url, tmp_path)
    stored_listener = None
    try:
        listener, port = spooled_listener(svc, bucket, endpoint=proxy.endpoint, gzip=False)
        files = explicit_files(corpus_dir)[:4]
        proxy.cut()
        answers = pynetdicom_send(port, files)
        assert [s for s, _ in answers] == [0] * len(files), answers
        wait_for(lambda: (metric(svc, "dicom_forward_failures_total") or 0) >= 1, timeout=30,
                 what="the forwarder failing against the unreachable S3")

        anonymous, body, _ = svc.request("GET", "/readyz", token=None)
        assert anonymous == 200, body
        status, by_name = checks_by_name(svc)
        assert status == 200, by_name
        target = by_name[f"s3://{bucket}"]
        assert target["ok"] and target["error"] is None and "spooled listeners only" in target["detail"], target
        spool = by_name["spool"]
        assert spool["ok"] and spool["error"] is None, spool
        assert spool["detail"].startswith(f"{len(files)} instances spooled"), spool
        assert "oldest" in spool["detail"] and "last forward failed" in spool["detail"], spool

        # A `stored` listener on the same unreachable target: its senders would fail, so the service is unready.
        stored_port = free_port()
        stored_listener = svc.create_listener(name="stored-beside", port=stored_port, bindAddress="127.0.0.1",
                                              storage={"backend": "s3", "bucket": bucket, "endpoint": proxy.endpoint,
                                                       "ackMode": "stored"})
        status, by_name = checks_by_name(svc)
        assert status == 503, by_name
        assert not by_name[f"s3://{bucket}"]["ok"] and by_name[f"s3://{bucket}"]["error"], by_name
        svc.request("DELETE", f"/v1/listeners/{stored_listener['id']}", expect=204)
        stored_listener = None
        assert svc.request("GET", "/readyz", token=None)[0] == 200

        proxy.start()
        wait_all_stored(svc, [sop(p) for p in files], timeout=180)
        status, by_name = checks_by_name(svc)
        assert status == 200, by_name
        assert by_name["spool"]["detail"].startswith("0 instances spooled"), by_name
        assert "last forward failed" not in by_name["spool"]["detail"], by_name
    finally:
        proxy.stop()
        assert svc.stop() == 0, svc.log_text()
