#!/usr/bin/env python3
"""Compute the signed EventBridge PutEvents and SNS Publish requests of the AWS event sinks with botocore:
the request body from botocore's own serializers for the services' models (JSON 1.1 for events, query for
sns), signed by botocore's SigV4Auth at a fixed time with fixed keys. Written to
Tests/EventsTests/Fixtures/aws-events/vectors.json; the Swift tests (AWSEventRequestVectorTests) build the
same requests with EventBridgeTransport / SNSTransport and require identical bodies, canonical requests,
strings to sign, signatures and Authorization headers.

Run:  python3 scripts/aws_event_vectors.py   (needs botocore; the output is committed)
"""
import datetime
import json
import os
import sys
from unittest import mock

import botocore
import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.serialize import create_serializer

FIXED_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0)
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEJr//////////wEaDO+token/with+odd=chars"

STUDY = "1.2.826.0.1.3680043.8.498.12345678901234567890"
EVENT_ID = "0f8e6a52-3b1c-4c7e-9d2a-5e4f3a2b1c0d"
# A CloudEvent as the dispatcher stores it: compact JSON, non-ASCII kept (a listener name, a patient's
# study description), slashes unescaped.
EVENT = json.dumps({
    "specversion": "1.0", "id": EVENT_ID, "source": "urn:dicom-ingest", "type": "dicom-ingest.study.stable",
    "subject": STUDY, "time": "2026-11-29T11:59:58.123Z", "datacontenttype": "application/json",
    "data": {"studyInstanceUID": STUDY, "studyDescription": "Thorax \u00e9t\u00e9 \u65e5\u672c \U0001f600 \"q\" \\ tab\t",
             "location": {"studyPrefix": "s3://bucket/dicom/" + STUDY + "/", "bucket": "bucket"},
             "instanceCount": 3, "totalBytes": 1234, "revision": 1},
}, separators=(",", ":"), ensure_ascii=False)

# (name, endpoint, region, eventBusName or None, source or None, event type, session token)
EVENTBRIDGE = [
    ("putevents-default-bus-local", "http://127.0.0.1:5000", "us-east-1", None, None, "dicom-ingest.study.stable", None),
    ("putevents-custom-bus-aws", "https://events.eu-west-1.amazonaws.com", "eu-west-1", "imaging-bus", "org.example.pacs",
     "dicom-ingest.study.updated", None),
    ("putevents-bus-arn-session-token", "https://events.us-west-2.amazonaws.com", "us-west-2",
     "arn:aws:events:us-west-2:123456789012:event-bus/dicom/events", None, "dicom-ingest.study.stable", SESSION_TOKEN),
]
# (name, endpoint, region, topic ARN, event type, session token)
SNS = [
    ("publish-standard-topic-local", "http://127.0.0.1:5000", "us-east-1", "arn:aws:sns:us-east-1:123456789012:dicom-events",
     "dicom-ingest.study.stable", None),
    ("publish-fifo-topic-aws", "https://sns.eu-central-1.amazonaws.com", "eu-central-1",
     "arn:aws:sns:eu-central-1:123456789012:dicom_events-1.fifo", "dicom-ingest.study.updated", None),
    ("publish-gov-partition-session-token", "https://sns.us-gov-west-1.amazonaws.com", "us-gov-west-1",
     "arn:aws-us-gov:sns:us-gov-west-1:123456789012:studies", "dicom-ingest.study.stable", SESSION_TOKEN),
]

session = botocore.session.get_session()


def signed(service, endpoint, region, serialized, token):
    """Sign botocore's serialized request as the client would (SigV4Auth, POST to endpoint + '/')."""
    body = serialized["body"]
    if isinstance(body, dict):  # query protocol: botocore form-encodes the parameter map
        body = botocore.utils.percent_encode_sequence(body)
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    req = AWSRequest(method="POST", url=endpoint + "/", headers=dict(serialized["headers"]), data=body.encode("utf-8"))
    auth = botocore.auth.SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=FIXED_NOW):
        auth.add_auth(req)
    authorization = req.headers["Authorization"]
    # What goes on the wire: the signed headers, Authorization, and the Host the HTTP layer adds.
    sent = sorted([[k.lower(), v] for k, v in req.headers.items()] + [["host", botocore.auth._host_from_url(req.url)]])
    del req.headers["Authorization"]
    canonical = auth.canonical_request(req)
    sts = auth.string_to_sign(req, canonical)
    sig = auth.signature(sts, req)
    assert authorization.endswith("Signature=" + sig)
    return {
        "body": body, "canonicalRequest": canonical, "stringToSign": sts, "signature": sig,
        "authorization": authorization,
        "headers": sent,
    }


def eventbridge_case(c):
    name, endpoint, region, bus, source, event_type, token = c
    model = session.get_service_model("events").operation_model("PutEvents")
    entry = {"Source": source or "dicom-ingest", "DetailType": event_type, "Detail": EVENT,
             "EventBusName": bus or "default"}
    serialized = create_serializer("json").serialize_to_request({"Entries": [entry]}, model)
    out = {"name": name, "endpoint": endpoint, "region": region, "eventBusName": bus, "source": source,
           "eventType": event_type, "event": EVENT, "sessionToken": token}
    out.update(signed("events", endpoint, region, serialized, token))
    return out


def sns_case(c):
    name, endpoint, region, topic, event_type, token = c
    model = session.get_service_model("sns").operation_model("Publish")
    params = {"TopicArn": topic, "Message": EVENT, "MessageAttributes": {
        "type": {"DataType": "String", "StringValue": event_type},
        "subject": {"DataType": "String", "StringValue": STUDY},
        "id": {"DataType": "String", "StringValue": EVENT_ID},
    }}
    if topic.endswith(".fifo"):
        params["MessageGroupId"] = STUDY
        params["MessageDeduplicationId"] = EVENT_ID
    serialized = create_serializer("query").serialize_to_request(params, model)
    out = {"name": name, "endpoint": endpoint, "region": region, "topicArn": topic, "eventType": event_type,
           "eventId": EVENT_ID, "subject": STUDY, "event": EVENT, "sessionToken": token}
    out.update(signed("sns", endpoint, region, serialized, token))
    return out


def main():
    out = {
        "generator": f"botocore {botocore.__version__} serializers (json, query) + SigV4Auth",
        "timestamp": "20261129T120000Z", "accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY,
        "putEvents": [eventbridge_case(c) for c in EVENTBRIDGE],
        "publish": [sns_case(c) for c in SNS],
    }
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "Tests", "EventsTests", "Fixtures", "aws-events", "vectors.json")
    if len(sys.argv) > 1:
        path = sys.argv[1]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(out['putEvents'])} PutEvents and {len(out['publish'])} Publish vectors to {path}")


if __name__ == "__main__":
    main()
