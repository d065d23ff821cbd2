"""The `healthimaging` event sink end to end. There is no HealthImaging emulator, so a local HTTP server in
the test answers StartDICOMImportJob / GetDICOMImportJob like the service does (REST-JSON, the model's
paths), checks every request's SigV4 signature with botocore's SigV4Auth, and injects faults: 500 and
ThrottlingException answers before it accepts, jobs that end FAILED with a message, and completed jobs
whose FAILURE/failure.ndjson (written to moto, where the service reads it back) lists failed files.

The service process is real, with a real S3 (moto) and PostgreSQL catalog; only HealthImaging is faked."""
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Service, free_port, service_env, wait_for
from test_events import instance, new_uid, send

DATASTORE = "0123456789abcdef0123456789abcdef"
ROLE = "arn:aws:iam::123456789012:role/HealthImagingImport"
FAST = dict(DICOM_INGEST_EVENTS_POLL_MS="200", DICOM_INGEST_EVENTS_RETRY_BASE_MS="200",
            DICOM_INGEST_EVENTS_RETRY_MAX_MS="1000", DICOM_INGEST_HEALTHIMAGING_POLL_MS="200",
            DICOM_INGEST_HEALTHIMAGING_POLL_MAX_MS="1000")


class FakeHealthImaging:
    """Answers like AWS HealthImaging. `start_faults` / `get_faults` are (status, error type) answers given,
    in order, before requests succeed; `outcome(input_s3_uri)` decides how a job ends:
    ("COMPLETED", failed_files) or ("FAILED", message). A job is IN_PROGRESS on its first poll and ends on
    the second. Jobs are keyed by client token, as the service's idempotency is."""

    def __init__(self, s3, credentials, region):
        self.s3 = s3
        self.credentials = credentials
        self.region = region
        self.lock = threading.Lock()
        self.start_faults = []
        self.get_faults = []
        self.outcomes = {}          # inputS3Uri -> ("COMPLETED", n) | ("FAILED", message)
        self.starts = []            # (status answered, body dict)
        self.gets = []              # (status answered, job id)
        self.jobs = {}              # client token -> job dict
        self.bad_signatures = []
        self.hold = False           # while True, jobs stay IN_PROGRESS
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status, payload, error_type=None):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if error_type:
                    self.send_header("x-amzn-ErrorType", error_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _verified(self, body):
                if not fake.signature_valid(self.command, self.path, dict(self.headers.items()), body):
                    with fake.lock:
                        fake.bad_signatures.append((self.command, self.path))
                    self._answer(403, {"message": "The request signature we calculated does not match"},
                                 "InvalidSignatureException")
                    return False
                return True

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not self._verified(body):
                    return
                parts = self.path.split("/")
                if len(parts) != 4 or parts[1] != "startDICOMImportJob" or parts[2] != "datastore":
                    return self._answer(404, {"message": "unknown operation"}, "ResourceNotFoundException")
                request = json.loads(body)
                with fake.lock:
                    fault = fake.start_faults.pop(0) if fake.start_faults else None
                    if fault:
                        fake.starts.append((fault[0], request))
                    else:
                        job = fake.jobs.get(request["clientToken"])
                        if job is None:
                            job = {"jobId": uuid.uuid4().hex, "jobName": request["jobName"], "jobStatus": "SUBMITTED",
                                   "datastoreId": parts[3], "dataAccessRoleArn": request["dataAccessRoleArn"],
                                   "inputS3Uri": request["inputS3Uri"], "outputS3Uri": request["outputS3Uri"],
                                   "submittedAt": 1795953600.5, "polls": 0}
                            fake.jobs[request["clientToken"]] = job
                        fake.starts.append((200, request))
                if fault:
                    return self._answer(fault[0], {"message": "injected " + fault[1]}, fault[1])
                self._answer(200, {k: job[k] for k in ("datastoreId", "jobId", "jobStatus", "submittedAt")})

            def do_GET(self):
                if not self._verified(b""):
                    return
                parts = self.path.split("/")
                if len(parts) != 6 or parts[1] != "getDICOMImportJob" or parts[4] != "job":
                    return self._answer(404, {"message": "unknown operation"}, "ResourceNotFoundException")
                with fake.lock:
                    fault = fake.get_faults.pop(0) if fake.get_faults else None
                    job = next((j for j in fake.jobs.values() if j["jobId"] == parts[5]), None)
                    fake.gets.append((fault[0] if fault else (200 if job else 404), parts[5]))
                if fault:
                    return self._answer(fault[0], {"message": "injected " + fault[1]}, fault[1])
                if job is None:
                    return self._answer(404, {"message": "no such job"}, "ResourceNotFoundException")
                fake.advance(job)
                self._answer(200, {"jobProperties": {k: v for k, v in job.items() if k != "polls"}})

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def signature_valid(self, method, path, headers, body):
        """Recomputes the SigV4 signature (service medical-imaging) with botocore and compares."""
        lower = {k.lower(): v for k, v in headers.items()}
        authorization = lower.get("authorization", "")
        if not authorization.startswith("AWS4-HMAC-SHA256 ") or "/medical-imaging/aws4_request" not in authorization:
            return False
        signed = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
        replay = AWSRequest(method=method, url=f"http://{lower['host']}{path}", data=body,
                            headers={k: v for k, v in lower.items() if k in signed and k != "host"})
        replay.context["timestamp"] = lower.get("x-amz-date", "")
        auth = botocore.auth.SigV4Auth(Credentials(*self.credentials), "medical-imaging", self.region)
        expected = auth.signature(auth.string_to_sign(replay, auth.canonical_request(replay)), replay)
        return authorization.endswith("Signature=" + expected) and "x-amz-content-sha256" not in lower

    def advance(self, job):
        """First poll: IN_PROGRESS. Second: the outcome, with the failure manifest written to S3."""
        with self.lock:
            job["polls"] += 1
            if job["polls"] == 1 or self.hold:
                job["jobStatus"] = "IN_PROGRESS"
                return
            if job["jobStatus"] in ("COMPLETED", "FAILED"):
                return
            status, detail = self.outcomes.get(job["inputS3Uri"], ("COMPLETED", 0))
            job["jobStatus"] = status
            job["endedAt"] = 1795953700.25
        bucket, _, prefix = job["outputS3Uri"][len("s3://"):].partition("/")
        if status == "FAILED":
            job["message"] = detail
            return
        base = f"{prefix}{job['jobId']}/"
        self.s3.put_object(Bucket=bucket, Key=base + "job-output-manifest.json", Body=b"{}")
        self.s3.put_object(Bucket=bucket, Key=base + "SUCCESS/success.ndjson", Body=b'{"ok":1}\n')
        if detail:
            lines = "".join(json.dumps({"inputFile": f"f{i}.dcm", "exception": {"exceptionType": "X"}}) + "\n"
                            for i in range(detail))
            self.s3.put_object(Bucket=bucket, Key=base + "FAILURE/failure.ndjson", Body=lines.encode())

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(s3, s3_settings):
    f = FakeHealthImaging(s3, (s3_settings["access_key"], s3_settings["secret_key"]), "us-east-1")
    yield f
    f.close()


def start(binary, s3_settings, database_url, tmp_path, **extra):
    # The fake HealthImaging listens on a loopback port; the operator admits it as a sink endpoint.
    extra.setdefault("DICOM_INGEST_EVENTS_AWS_ENDPOINTS", "http://127.0.0.1:*")
    env = service_env(s3_settings, database_url, str(tmp_path / "data"), **FAST, **extra)
    return Service(binary, env, str(tmp_path), str(tmp_path / "service.log")).start()


def s3_listener(svc, bucket, **storage):
    fields = {"backend": "s3", "bucket": bucket, "gzip": False, "addStudyUIDPrefix": True}
    fields.update(storage)
    return svc.create_listener(name="hi-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                               storage=fields, studyStableSeconds=1)


def sink_body(fake, output_bucket, listener_ids, **extra):
    body = {"name": "hi-" + uuid.uuid4().hex[:8], "kind": "healthimaging", "datastoreId": DATASTORE,
            "dataAccessRoleArn": ROLE, "outputS3Uri": f"s3://{output_bucket}/imports/", "region": "us-east-1",
            "endpoint": fake.url, "listenerIds": listener_ids}
    body.update(extra)
    return body


def imports_of(svc, uid):
    return svc.request("GET", f"/v1/studies/{uid}", expect=200)[1]["imports"]


def test_import_retried_with_one_client_token_then_polled_to_its_failure_count(
        binary, s3_settings, fresh_database_url, tmp_path, s3, bucket, fake):
    output = "hi-out-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=output)
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener = s3_listener(svc, bucket)
        _, sink, _ = svc.request("POST", "/v1/event-sinks", sink_body(fake, output, [listener["id"]]), expect=201)
        assert sink["kind"] == "healthimaging" and sink["datastoreId"] == DATASTORE
        study = new_uid()
        prefix = f"s3://{bucket}/DICOM/{study}/"
        fake.outcomes[prefix] = ("COMPLETED", 2)
        fake.start_faults = [(500, "InternalServerException"), (429, "ThrottlingException")]
        fake.get_faults = [(400, "ThrottlingException")]
        series = new_uid()
        send(listener["port"], [instance(study, series, 1, 1), instance(study, series, 1, 2)])

        done = wait_for(lambda: [i for i in imports_of(svc, study) if i["failureCount"] is not None],
                        timeout=90, what="the import job polled to its end")
        assert len(done) == 1
        job = done[0]
        assert job["status"] == "COMPLETED"
        assert job["failureCount"] == 2
        assert job["sinkId"] == sink["id"]
        assert job["inputS3Uri"] == prefix
        assert job["endedAt"] is not None and job["submittedAt"] is not None
        # Two refused starts, then the accepted one: every attempt carried the same client token.
        with fake.lock:
            starts = list(fake.starts)
            gets = list(fake.gets)
            jobs = dict(fake.jobs)
        assert [status for status, _ in starts] == [500, 429, 200]
        tokens = {body["clientToken"] for _, body in starts}
        assert tokens == {job["clientToken"]}
        assert list(jobs) == [job["clientToken"]] and jobs[job["clientToken"]]["jobId"] == job["jobId"]
        assert {body["inputS3Uri"] for _, body in starts} == {prefix}
        # The throttled poll was retried; the job was seen IN_PROGRESS, then COMPLETED.
        assert [status for status, _ in gets][:1] == [400] and len(gets) >= 3
        assert fake.bad_signatures == []
        event = svc.request("GET", f"/v1/events?sinkId={sink['id']}", expect=200)[1]["items"]
        assert len(event) == 1 and event[0]["deliveries"][0]["status"] == "delivered"
        assert event[0]["deliveries"][0]["attempts"] == 3
        assert job["clientToken"].startswith(event[0]["id"])
    finally:
        svc.stop()


def test_a_failed_job_is_shown_with_its_message(binary, s3_settings, fresh_database_url, tmp_path, s3, bucket, fake):
    output = "hi-out-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=output)
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener = s3_listener(svc, bucket)
        svc.request("POST", "/v1/event-sinks", sink_body(fake, output, [listener["id"]]), expect=201)
        study = new_uid()
        fake.outcomes[f"s3://{bucket}/DICOM/{study}/"] = ("FAILED", "Input S3 location is not accessible")
        send(listener["port"], [instance(study, new_uid(), 1, 1)])
        failed = wait_for(lambda: [i for i in imports_of(svc, study) if i["status"] == "FAILED"],
                          timeout=90, what="the FAILED import job")
        assert failed[0]["message"] == "Input S3 location is not accessible"
        assert failed[0]["failureCount"] is None
        assert failed[0]["endedAt"] is not None
        # The event itself was delivered: HealthImaging accepted the job, which then failed.
        events = svc.request("GET", "/v1/events?status=delivered", expect=200)[1]["items"]
        assert [e["subject"] for e in events] == [study]
    finally:
        svc.stop()


def test_sink_settings_and_listener_bindings_are_validated(binary, s3_settings, fresh_database_url, tmp_path, bucket, fake):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        good = s3_listener(svc, bucket)
        gzip = s3_listener(svc, bucket, gzip=True)
        flat = s3_listener(svc, bucket, addStudyUIDPrefix=False)
        files = svc.create_listener(name="hi-fs-" + uuid.uuid4().hex[:6], port=free_port(), bindAddress="127.0.0.1",
                                    storage={"backend": "filesystem", "gzip": False, "addStudyUIDPrefix": True})

        bad = sink_body(fake, "out", [good["id"]], datastoreId="ABC", dataAccessRoleArn="arn:aws:iam::12:user/x",
                        outputS3Uri="s3://Out/no-slash", region="US East", endpoint="ftp://x", inputOwnerAccountId="12")
        status, problem, headers = svc.request("POST", "/v1/event-sinks", bad)
        assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
        fields = {e["field"] for e in problem["errors"]}
        assert fields == {"datastoreId", "dataAccessRoleArn", "outputS3Uri", "region", "endpoint", "inputOwnerAccountId"}

        missing = {"name": "hi-missing", "kind": "healthimaging"}
        status, problem, _ = svc.request("POST", "/v1/event-sinks", missing)
        assert status == 400
        assert {e["field"] for e in problem["errors"]} == {"datastoreId", "dataAccessRoleArn", "outputS3Uri", "region",
                                                            "listenerIds"}

        ids = [good["id"], gzip["id"], flat["id"], files["id"], str(uuid.uuid4())]
        status, problem, _ = svc.request("POST", "/v1/event-sinks", sink_body(fake, "out", ids))
        assert status == 400
        errors = [(e["field"], e["message"]) for e in problem["errors"]]
        assert all(not f.startswith("listenerIds[0]") for f, _ in errors)
        assert any(f == "listenerIds[1]" and "storage.gzip" in m and "gzip" in m for f, m in errors)
        assert any(f == "listenerIds[2]" and "storage.addStudyUIDPrefix" in m for f, m in errors)
        assert any(f == "listenerIds[3]" and "storage.backend" in m for f, m in errors)
        assert all(not f.startswith("listenerIds[4]") for f, _ in errors)  # no such listener: nothing to check

        status, problem, _ = svc.request("POST", "/v1/event-sinks", {
            "name": "hook-x", "kind": "webhook", "url": "http://127.0.0.1:1/x", "secret": "0123456789abcdef0123",
            "datastoreId": DATASTORE})
        assert status == 400 and [e["field"] for e in problem["errors"]] == ["datastoreId"]

        _, sink, _ = svc.request("POST", "/v1/event-sinks", sink_body(fake, "out", [good["id"]]), expect=201)
        # The reverse: a bound listener cannot turn gzip on or drop its study prefix.
        status, problem, _ = svc.request("PATCH", f"/v1/listeners/{good['id']}",
                                         {"storage": {"gzip": True, "addStudyUIDPrefix": False}},
                                         content_type="application/merge-patch+json")
        assert status == 400, problem
        assert {e["field"] for e in problem["errors"]} == {"storage.gzip", "storage.addStudyUIDPrefix"}
        assert sink["name"] in problem["detail"]
        listener = svc.request("GET", f"/v1/listeners/{good['id']}", expect=200)[1]
        assert listener["storage"]["gzip"] is False
        # An unbound listener may.
        svc.request("PATCH", f"/v1/listeners/{flat['id']}", {"storage": {"gzip": True}},
                    content_type="application/merge-patch+json", expect=200)
    finally:
        svc.stop()


def test_a_study_over_the_job_limits_is_imported_series_by_series(
        binary, s3_settings, fresh_database_url, tmp_path, s3, bucket, fake):
    output = "hi-out-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=output)
    svc = start(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_HEALTHIMAGING_MAX_FILES="2")
    try:
        listener = s3_listener(svc, bucket, addStudyUIDPrefix=False,
                               keyTemplate="{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}")
        svc.request("POST", "/v1/event-sinks", sink_body(fake, output, [listener["id"]]), expect=201)
        study, series_1, series_2 = new_uid(), new_uid(), new_uid()
        send(listener["port"], [instance(study, series_1, 1, 1), instance(study, series_1, 1, 2),
                                instance(study, series_2, 2, 1)])
        done = wait_for(lambda: (lambda jobs: jobs if len(jobs) == 2 and all(j["failureCount"] == 0 for j in jobs) else None)(
            imports_of(svc, study)), timeout=90, what="both series imported")
        by_part = {j["part"]: j for j in done}
        assert by_part[1]["inputS3Uri"] == f"s3://{bucket}/DICOM/{study}/{series_1}/"
        assert by_part[2]["inputS3Uri"] == f"s3://{bucket}/DICOM/{study}/{series_2}/"
        assert by_part[2]["clientToken"] == by_part[1]["clientToken"][:-2] + "-2"
        with fake.lock:
            assert sorted(body["inputS3Uri"] for _, body in fake.starts) == sorted(j["inputS3Uri"] for j in done)
    finally:
        svc.stop()


def test_a_study_over_the_job_limits_without_series_folders_fails_the_delivery(
        binary, s3_settings, fresh_database_url, tmp_path, s3, bucket, fake):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path, DICOM_INGEST_HEALTHIMAGING_MAX_FILES="1")
    try:
        listener = s3_listener(svc, bucket)
        _, sink, _ = svc.request("POST", "/v1/event-sinks", sink_body(fake, "out", [listener["id"]]), expect=201)
        study, series = new_uid(), new_uid()
        send(listener["port"], [instance(study, series, 1, 1), instance(study, series, 1, 2)])
        failed = wait_for(lambda: svc.request("GET", "/v1/events?status=failed", expect=200)[1]["items"],
                          timeout=60, what="the failed delivery")
        delivery = failed[0]["deliveries"][0]
        assert delivery["sinkId"] == sink["id"] and delivery["attempts"] == 1
        assert "2 files" in delivery["lastError"] and "(1 files" in delivery["lastError"]
        assert "{SeriesInstanceUID}" in delivery["lastError"]
        assert imports_of(svc, study) == []
        with fake.lock:
            assert fake.starts == []
    finally:
        svc.stop()


def test_polling_resumes_after_a_restart(binary, s3_settings, fresh_database_url, tmp_path, s3, bucket, fake):
    output = "hi-out-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=output)
    fake.hold = True
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener = s3_listener(svc, bucket)
        svc.request("POST", "/v1/event-sinks", sink_body(fake, output, [listener["id"]]), expect=201)
        study = new_uid()
        fake.outcomes[f"s3://{bucket}/DICOM/{study}/"] = ("COMPLETED", 1)
        send(listener["port"], [instance(study, new_uid(), 1, 1)])
        wait_for(lambda: [i for i in imports_of(svc, study) if i["status"] == "IN_PROGRESS"], timeout=60,
                 what="the job seen IN_PROGRESS")
    finally:
        assert svc.stop() == 0
    fake.hold = False
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        done = wait_for(lambda: [i for i in imports_of(svc, study) if i["failureCount"] is not None], timeout=60,
                        what="the job polled to its end after the restart")
        assert done[0]["status"] == "COMPLETED" and done[0]["failureCount"] == 1
        with fake.lock:
            assert len(fake.jobs) == 1 and [status for status, _ in fake.starts] == [200]
    finally:
        svc.stop()
