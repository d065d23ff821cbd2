#!/usr/bin/env python3
"""Capture the AWS HealthImaging requests botocore's own `medical-imaging` client sends
(StartDICOMImportJob, GetDICOMImportJob) at a fixed time with fixed keys, and write them to
Tests/EventsTests/Fixtures/healthimaging/vectors.json. The Swift tests (HealthImagingSigningTests) build the
same requests with HealthImagingClient and require the same URL, JSON body, canonical request, string to
sign, signature and Authorization header.

The request is taken from the client's `before-send` hook, i.e. after serialization and SigV4Auth
signing, exactly as it would go on the wire; the intermediate strings are recomputed with SigV4Auth
from that request and checked against the signature the client sent.

Run:  python3 scripts/healthimaging_vectors.py   (needs botocore; the output is committed)
"""
import datetime
import hashlib
import json
import os
import sys
from unittest import mock

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

TIMESTAMP = "20261129T120000Z"
FIXED_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDO+token/with+odd=chars"
DATASTORE = "0123456789abcdef0123456789abcdef"
ROLE = "arn:aws:iam::123456789012:role/HealthImagingImportRole"
EVENT = "4f1c2b3a-9d8e-4c7b-a6f5-0e1d2c3b4a59"
SINK = "8a7b6c5d-1e2f-4a3b-9c8d-7e6f5a4b3c2d"

# (name, operation, region, endpoint or None for the default, session token, parameters)
CASES = [
    ("start-default-endpoint", "StartDICOMImportJob", "us-east-1", None, None, {
        "clientToken": f"{EVENT}-{SINK[:8]}", "dataAccessRoleArn": ROLE, "datastoreId": DATASTORE,
        "inputS3Uri": "s3://dicom-ingest/DICOM/1.2.840.113619.2.55.3.604688119.969.1268071029.320/",
        "jobName": f"dicom-ingest-{EVENT}", "outputS3Uri": "s3://healthimaging-output/imports/"}),
    ("start-split-part-owner-account-token", "StartDICOMImportJob", "eu-west-1", None, SESSION_TOKEN, {
        "clientToken": f"{EVENT}-{SINK[:8]}-2", "dataAccessRoleArn": "arn:aws:iam::210987654321:role/path/to/Role+Name=x,y@z",
        "datastoreId": DATASTORE, "inputOwnerAccountId": "111122223333",
        "inputS3Uri": "s3://in.bucket-1/DICOM/1.2.3/1.2.3.4.5/", "jobName": f"dicom-ingest-{EVENT}-2",
        "outputS3Uri": "s3://out-bucket/"}),
    ("start-custom-endpoint", "StartDICOMImportJob", "us-west-2", "http://127.0.0.1:8443", None, {
        "clientToken": "abc.DEF_123-x", "dataAccessRoleArn": ROLE, "datastoreId": "zz" * 16,
        "inputS3Uri": "s3://b/p/", "jobName": "j", "outputS3Uri": "s3://o/p/q/"}),
    ("get-default-endpoint", "GetDICOMImportJob", "us-east-1", None, None,
     {"datastoreId": DATASTORE, "jobId": "5d08d05d6aab2a27922d6260926077d4"}),
    ("get-custom-endpoint-token", "GetDICOMImportJob", "ap-southeast-2", "https://vpce-1.medical-imaging.example:9443",
     SESSION_TOKEN, {"datastoreId": DATASTORE, "jobId": "a1"}),
]

METHODS = {"StartDICOMImportJob": "start_dicom_import_job", "GetDICOMImportJob": "get_dicom_import_job"}


def capture(operation, region, endpoint, token, params):
    session = botocore.session.get_session()
    kwargs = {"region_name": region, "aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
              "aws_session_token": token}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    client = session.create_client("medical-imaging", **kwargs)
    captured = {}

    def before_send(request, **_):
        captured["request"] = request
        raise RuntimeError("captured")  # never sent

    client.meta.events.register("before-send", before_send)
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
        try:
            getattr(client, METHODS[operation])(**params)
        except RuntimeError:
            pass
    return captured["request"]


def case(c):
    name, operation, region, endpoint, token, params = c
    sent = capture(operation, region, endpoint, token, params)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in sent.headers.items()}
    authorization = headers["Authorization"]
    body = sent.body.decode("utf-8") if isinstance(sent.body, bytes) else (sent.body or "")
    # Recompute the intermediate strings from the signed headers the client sent.
    signed_names = authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")
    replay = AWSRequest(method=sent.method, url=sent.url, data=body.encode("utf-8"),
                        headers={k: v for k, v in headers.items() if k.lower() in signed_names and k.lower() != "host"})
    replay.context["timestamp"] = TIMESTAMP
    auth = botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "medical-imaging", region)
    canonical = auth.canonical_request(replay)
    sts = auth.string_to_sign(replay, canonical)
    sig = auth.signature(sts, replay)
    assert authorization.endswith("Signature=" + sig), name
    return {
        "name": name, "operation": operation, "region": region, "endpoint": endpoint, "sessionToken": token,
        "parameters": params, "method": sent.method, "url": sent.url, "body": body,
        "bodySHA256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "signedHeaders": {k.lower(): v for k, v in headers.items() if k.lower() in signed_names},
        "canonicalRequest": canonical, "stringToSign": sts, "signature": sig, "authorization": authorization,
    }


def main():
    out = {
        "generator": f"botocore {botocore.__version__} medical-imaging client (before-send capture), SigV4Auth",
        "timestamp": TIMESTAMP, "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY,
        "requests": [case(c) for c in CASES],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "EventsTests", "Fixtures", "healthimaging", "vectors.json")
    if len(sys.argv) > 1:
        path = sys.argv[1]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out['requests'])} HealthImaging request vectors to {path}")


if __name__ == "__main__":
    main()
