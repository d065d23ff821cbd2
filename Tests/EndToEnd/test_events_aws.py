"""The AWS event sinks end to end against moto_server (signature checking on, the test user's IAM policy
allowing s3, events, sns and sqs): an EventBridge rule on a custom bus and an SNS subscription each feed an
SQS queue, read back with boto3. One study yields exactly one `study.stable` on each queue, with the id of
/v1/events, the CloudEvents type as EventBridge detail-type and SNS `type` attribute, and data that matches
the catalog. The SNS subscription keeps RawMessageDelivery off, so the queue receives SNS's JSON envelope
with the message attributes the service set (type, subject, id) next to the message.

A sink whose topic or bus does not exist is retried with the AWS error code as lastError, the service
stays up, and once the topic exists the same event (same id) is delivered."""
import json
import uuid

import boto3
import pytest

from conftest import Service, free_port, service_env, wait_for
from event_receiver import FAST, instance, new_uid, send

SOURCE = "org.example.dicom-ingest.e2e"


@pytest.fixture
def aws(s3_settings):
    common = dict(endpoint_url=s3_settings["endpoint"], region_name=s3_settings["region"],
                  aws_access_key_id=s3_settings["access_key"], aws_secret_access_key=s3_settings["secret_key"])
    return {name: boto3.client(name, **common) for name in ("sqs", "events", "sns")}


def start(binary, s3_settings, database_url, tmp_path, **extra):
    env = service_env(s3_settings, database_url, str(tmp_path / "data"), **FAST)
    # The SNS sinks name no endpoint: they go where the SDKs' variable points. The EventBridge sinks name
    # the emulator as their `endpoint`, which the operator allows here.
    env["AWS_ENDPOINT_URL_SNS"] = s3_settings["endpoint"]
    env["DICOM_INGEST_EVENTS_AWS_ENDPOINTS"] = s3_settings["endpoint"]
    env.update(extra)
    return Service(binary, env, str(tmp_path), str(tmp_path / "service.log")).start()


def queue(aws, name):
    url = aws["sqs"].create_queue(QueueName=name)["QueueUrl"]
    arn = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(aws, url, want, timeout=60):
    """Receives until `want` messages arrived, then once more to be sure nothing else is queued."""
    got = []

    def received():
        for message in aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(message["Body"]))
            aws["sqs"].delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(got) >= want

    wait_for(received, timeout=timeout, what=f"{want} message(s) on {url}")
    received()
    return got


def listener_for(svc):
    return svc.create_listener(name="aws-events-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                               storage={"backend": "filesystem", "gzip": False}, studyStableSeconds=1)


def test_eventbridge_rule_and_sns_subscription_receive_the_study_event(binary, s3_settings, fresh_database_url, tmp_path, aws):
    tag = uuid.uuid4().hex[:8]
    bus = "dicom-" + tag
    eb_url, eb_arn = queue(aws, "eventbridge-" + tag)
    sns_url, sns_arn = queue(aws, "sns-" + tag)
    aws["events"].create_event_bus(Name=bus)
    aws["events"].put_rule(Name="studies-" + tag, EventBusName=bus,
                           EventPattern=json.dumps({"source": [SOURCE], "detail-type": ["dicom-ingest.study.stable"]}))
    aws["events"].put_targets(Rule="studies-" + tag, EventBusName=bus, Targets=[{"Id": "queue", "Arn": eb_arn}])
    topic = aws["sns"].create_topic(Name="studies-" + tag)["TopicArn"]
    aws["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_arn, Attributes={"RawMessageDelivery": "false"})

    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener = listener_for(svc)
        _, eb_sink, _ = svc.request("POST", "/v1/event-sinks", {
            "name": "bus-" + tag, "kind": "eventbridge", "eventBusName": bus, "source": SOURCE,
            "endpoint": s3_settings["endpoint"]}, expect=201)
        _, sns_sink, _ = svc.request("POST", "/v1/event-sinks", {"name": "topic-" + tag, "kind": "sns", "topicArn": topic},
                                     expect=201)
        assert (eb_sink["eventBusName"], eb_sink["source"], eb_sink["endpoint"], eb_sink["region"], eb_sink["url"]) == \
            (bus, SOURCE, s3_settings["endpoint"], None, None)
        assert (sns_sink["topicArn"], sns_sink["region"], sns_sink["secretSet"]) == (topic, None, False)
        assert svc.request("GET", f"/v1/event-sinks/{sns_sink['id']}", expect=200)[1]["topicArn"] == topic

        study, series = new_uid(), new_uid()
        send(listener["port"], [instance(study, series, 1, 1), instance(study, series, 1, 2)])
        wait_for(lambda: [d["status"] for e in svc.request("GET", "/v1/events")[1]["items"] for d in e["deliveries"]]
                 == ["delivered", "delivered"], timeout=60, what="the event delivered to both sinks")
        events = svc.request("GET", "/v1/events")[1]["items"]
        assert len(events) == 1
        event = events[0]
        assert {d["sinkId"] for d in event["deliveries"]} == {eb_sink["id"], sns_sink["id"]}
        assert all(d["attempts"] == 1 and d["lastError"] is None for d in event["deliveries"])
        cloud_event = event["cloudEvent"]
        assert (cloud_event["id"], cloud_event["type"], cloud_event["subject"]) == \
            (event["id"], "dicom-ingest.study.stable", study)
        catalog = svc.request("GET", f"/v1/studies/{study}", expect=200)[1]
        assert cloud_event["data"]["instanceCount"] == catalog["instanceCount"] == 2
        assert cloud_event["data"]["totalBytes"] == catalog["totalBytes"]
        assert [s["seriesInstanceUID"] for s in cloud_event["data"]["series"]] == [series]

        # EventBridge: the rule put the event on the queue; the CloudEvent is its detail.
        [from_bus] = drain(aws, eb_url, 1)
        assert from_bus["detail-type"] == "dicom-ingest.study.stable"
        assert from_bus["source"] == SOURCE
        assert from_bus["detail"] == cloud_event

        # SNS: the envelope carries the CloudEvent as Message and the attributes the service set.
        [envelope] = drain(aws, sns_url, 1)
        assert envelope["Type"] == "Notification" and envelope["TopicArn"] == topic
        assert json.loads(envelope["Message"]) == cloud_event
        attributes = {name: (a["Type"], a["Value"]) for name, a in envelope["MessageAttributes"].items()}
        assert attributes == {"type": ("String", "dicom-ingest.study.stable"), "subject": ("String", study),
                              "id": ("String", event["id"])}
    finally:
        svc.stop()


def test_missing_topic_and_bus_are_retried_with_the_aws_error_code_then_delivered(binary, s3_settings, fresh_database_url,
                                                                                  tmp_path, aws):
    tag = uuid.uuid4().hex[:8]
    account = aws["sns"].create_topic(Name="account-probe-" + tag)["TopicArn"].split(":")[4]
    missing_topic = f"arn:aws:sns:{s3_settings['region']}:{account}:later-{tag}"
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener = listener_for(svc)
        _, sns_sink, _ = svc.request("POST", "/v1/event-sinks", {"name": "later-" + tag, "kind": "sns", "topicArn": missing_topic},
                                     expect=201)
        _, eb_sink, _ = svc.request("POST", "/v1/event-sinks", {
            "name": "nobus-" + tag, "kind": "eventbridge", "eventBusName": "missing-" + tag,
            "endpoint": s3_settings["endpoint"]}, expect=201)
        study = new_uid()
        send(listener["port"], [instance(study, new_uid(), 1, 1)])

        def pending_events():
            return svc.request("GET", "/v1/events?status=pending")[1]["items"]

        def deliveries():
            return {d["sinkId"]: d for e in pending_events() for d in e["deliveries"]}

        # The assertions read the same listing the wait accepted: one event (the study's), whose delivery
        # to each sink has failed at least twice.
        seen = []

        def failed_twice():
            items = pending_events()
            seen[:] = [items]
            return (len(items) == 1 and len(items[0]["deliveries"]) == 2
                    and all(d["attempts"] >= 2 for d in items[0]["deliveries"]))

        wait_for(failed_twice, timeout=60, what="two failed attempts at each sink")
        [event] = seen[0]
        assert (event["type"], event["subject"]) == ("dicom-ingest.study.stable", study), event
        state = {d["sinkId"]: d for d in event["deliveries"]}
        assert state[sns_sink["id"]]["status"] == "pending", event
        assert (state[sns_sink["id"]]["lastError"] or "").startswith("sns Publish: HTTP 404 NotFound"), event
        assert state[eb_sink["id"]]["lastError"] == "eventbridge PutEvents: HTTP 400 ResourceNotFoundException", event
        assert svc.proc.poll() is None
        assert svc.request("GET", "/readyz")[0] == 200

        # Once the topic exists, the next attempt delivers the same event.
        event_id = svc.request("GET", "/v1/events")[1]["items"][0]["id"]
        queue_url, queue_arn = queue(aws, "later-" + tag)
        topic = aws["sns"].create_topic(Name="later-" + tag)["TopicArn"]
        assert topic == missing_topic
        aws["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        wait_for(lambda: svc.request("GET", f"/v1/events?status=delivered&sinkId={sns_sink['id']}")[1]["items"],
                 timeout=60, what="delivery once the topic exists")
        [message] = drain(aws, queue_url, 1)
        assert message["id"] == event_id and message["subject"] == study
        assert deliveries()[eb_sink["id"]]["status"] == "pending"
    finally:
        svc.stop()


def test_aws_sink_members_are_checked_and_every_invalid_one_named(binary, s3_settings, fresh_database_url, tmp_path):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        def problem(body):
            status, payload, headers = svc.request("POST", "/v1/event-sinks", body)
            assert status == 400 and headers["Content-Type"].startswith("application/problem+json"), payload
            return {e["field"] for e in payload["errors"]}

        assert problem({"name": "bad-sns", "kind": "sns", "topicArn": "arn:aws:sns:us-east-1:12:t", "region": "US East",
                        "url": "https://example.org/", "secret": "0123456789abcdef0123", "endpoint": "ftp://example.org"}) == \
            {"topicArn", "region", "url", "secret", "endpoint"}
        assert problem({"name": "no-topic", "kind": "sns"}) == {"topicArn"}
        assert problem({"name": "wrong-region", "kind": "sns", "topicArn": "arn:aws:sns:eu-west-1:123456789012:t",
                        "region": "us-east-1"}) == {"region"}
        assert problem({"name": "bad-bus", "kind": "eventbridge", "eventBusName": "bus with spaces", "source": "a b",
                        "topicArn": "arn:aws:sns:us-east-1:123456789012:t"}) == {"eventBusName", "source", "topicArn"}
        # Signed requests go only to endpoints the operator allows.
        assert problem({"name": "elsewhere", "kind": "eventbridge", "endpoint": "https://collector.example.org"}) == {"endpoint"}
        assert problem({"name": "hook", "kind": "webhook", "url": "https://example.org/", "secret": "0123456789abcdef0123",
                        "region": "us-east-1"}) == {"region"}
    finally:
        svc.stop()

    # Without AWS_REGION an eventbridge sink must name its region (or a bus ARN, which names one).
    (tmp_path / "no-region").mkdir()
    env_less = start(binary, s3_settings, fresh_database_url, tmp_path / "no-region", AWS_REGION="", AWS_DEFAULT_REGION="")
    try:
        status, payload, _ = env_less.request("POST", "/v1/event-sinks", {"name": "noregion", "kind": "eventbridge"})
        assert status == 400 and {e["field"] for e in payload["errors"]} == {"region"}, payload
        env_less.request("POST", "/v1/event-sinks", {"name": "arn-bus", "kind": "eventbridge",
                                                     "eventBusName": "arn:aws:events:eu-west-1:123456789012:event-bus/b"},
                         expect=201)
        _, topic, _ = env_less.request("POST", "/v1/event-sinks", {"name": "topic", "kind": "sns",
                                                                   "topicArn": "arn:aws:sns:eu-west-1:123456789012:t"}, expect=201)
        # A sink keeps its kind: a valid body of another kind is a conflict naming kind.
        _, conflict, _ = env_less.request("PUT", f"/v1/event-sinks/{topic['id']}",
                                          {"name": "topic", "kind": "webhook", "url": "https://example.org/"}, expect=409)
        assert [e["field"] for e in conflict["errors"]] == ["kind"]
    finally:
        env_less.stop()
