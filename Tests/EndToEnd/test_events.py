"""Study-complete events end to end: a local HTTP receiver in the test gets the CloudEvents the service
POSTs. A study quiet for its listener's `studyStableSeconds` is announced once (`study.stable`, revision 1),
a late instance makes it `study.updated` revision 2; every request carries a valid HMAC-SHA256 signature
of timestamp + body; with the receiver refusing, delivery is retried with the same event id until it
accepts; a SIGKILL with events pending loses none (they are delivered after the restart)."""
import signal
import uuid

from conftest import READ_TOKEN, free_port, wait_for
from event_receiver import SECRET, instance, new_uid, receiver, send, start, valid_signature  # noqa: F401 (receiver: fixture)


def setup_listener_and_sink(svc, receiver, stable_seconds=2):
    listener = svc.create_listener(name="events-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                                   storage={"backend": "filesystem", "gzip": False}, studyStableSeconds=stable_seconds)
    _, sink, _ = svc.request("POST", "/v1/event-sinks", {"name": "hook-" + uuid.uuid4().hex[:8], "kind": "webhook",
                                                         "url": receiver.url, "secret": SECRET}, expect=201)
    return listener, sink


def test_one_stable_event_per_study_then_updated_revision_2(binary, s3_settings, fresh_database_url, tmp_path, receiver):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        listener, sink = setup_listener_and_sink(svc, receiver)
        assert listener["studyStableSeconds"] == 2
        assert "secret" not in sink and sink["secretSet"] is True
        study_a, study_b = new_uid(), new_uid()
        series_a1, series_a2, series_b = new_uid(), new_uid(), new_uid()
        send(listener["port"], [instance(study_a, series_a1, 1, 1), instance(study_a, series_a1, 1, 2),
                                instance(study_a, series_a2, 2, 1)])
        send(listener["port"], [instance(study_b, series_b, 1, 1)], calling="OTHERSCU")
        wait_for(lambda: len(receiver.accepted()) >= 2, timeout=60, what="two study.stable events")

        # Settled: one more outbox scan after the quiet period announces nothing new.
        events = svc.request("GET", "/v1/events?status=delivered")[1]["items"]
        assert len(events) == 2
        with receiver.lock:
            raw = list(receiver.attempts)
        assert len(raw) == 2 and all(status == 200 for status, _, _ in raw)
        for _, headers, body in raw:
            assert valid_signature(headers, body)
            assert headers["content-type"].startswith("application/cloudevents+json")
        by_subject = {event["subject"]: (headers, event) for headers, event in receiver.accepted()}
        assert set(by_subject) == {study_a, study_b}
        for uid, (headers, event) in by_subject.items():
            assert event["specversion"] == "1.0"
            assert event["type"] == "dicom-ingest.study.stable"
            assert event["source"] == "urn:dicom-ingest"
            assert headers["x-dicom-ingest-event-id"] == event["id"]
            data = event["data"]
            assert data["revision"] == 1
            assert data["listener"] == {"id": listener["id"], "name": listener["name"]}
            study = svc.request("GET", f"/v1/studies/{uid}", expect=200)[1]
            assert data["instanceCount"] == study["instanceCount"]
            assert data["totalBytes"] == study["totalBytes"]
            assert data["seriesCount"] == study["seriesCount"]
            series = svc.request("GET", f"/v1/studies/{uid}/series", expect=200)[1]["items"]
            assert [(s["seriesInstanceUID"], s["instanceCount"], s["totalBytes"]) for s in data["series"]] == \
                [(s["seriesInstanceUID"], s["instanceCount"], s["totalBytes"]) for s in series]
            # Every object of the study lies under the announced prefix, or is listed.
            uris = []
            for s in series:
                uris += [i["objectUri"] for i in svc.request("GET", f"/v1/series/{s['seriesInstanceUID']}/instances")[1]["items"]]
            location = data["location"]
            if location.get("studyPrefix"):
                assert all(u.startswith(location["studyPrefix"]) for u in uris), (location, uris)
            else:
                assert sorted(location["objectUris"]) == sorted(uris)
        assert by_subject[study_a][1]["data"]["instanceCount"] == 3
        assert by_subject[study_a][1]["data"]["callingAETitles"] == ["EVENTSCU"]
        assert by_subject[study_b][1]["data"]["callingAETitles"] == ["OTHERSCU"]
        assert by_subject[study_a][1]["data"]["peerAddresses"] == ["127.0.0.1"]

        # A late instance makes study A unstable again; once quiet, revision 2 is announced.
        send(listener["port"], [instance(study_a, series_a2, 2, 2)])
        wait_for(lambda: len(receiver.accepted()) >= 3, timeout=60, what="study.updated event")
        headers, updated = receiver.accepted()[2]
        assert updated["type"] == "dicom-ingest.study.updated"
        assert updated["subject"] == study_a
        assert updated["data"]["revision"] == 2
        assert updated["data"]["instanceCount"] == 4
        assert updated["id"] not in {e["id"] for _, e in by_subject.values()}
        events = svc.request("GET", "/v1/events")[1]["items"]
        assert sorted((e["subject"], e["revision"]) for e in events) == sorted([(study_a, 1), (study_a, 2), (study_b, 1)])
        assert all(d["status"] == "delivered" and d["attempts"] == 1 and d["sinkId"] == sink["id"]
                   for e in events for d in e["deliveries"])
    finally:
        svc.stop()


def test_receiver_down_then_every_event_arrives_with_the_same_id(binary, s3_settings, fresh_database_url, tmp_path, receiver):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        receiver.accepting = False
        listener, sink = setup_listener_and_sink(svc, receiver, stable_seconds=1)
        studies = [new_uid() for _ in range(3)]
        for study in studies:
            send(listener["port"], [instance(study, new_uid(), 1, 1)])
        # Every event has been refused at least twice (retried with backoff) before the receiver recovers.
        wait_for(lambda: len({e["subject"] for _, e in receiver.refused()}) == 3
                 and len(receiver.refused()) >= 6, timeout=60, what="refused attempts of three events")
        pending = svc.request("GET", f"/v1/events?status=pending&sinkId={sink['id']}", expect=200)[1]["items"]
        assert len(pending) == 3
        assert all(d["attempts"] >= 1 and d["lastError"] == "HTTP 503" for e in pending for d in e["deliveries"])
        refused_ids = {e["subject"]: e["id"] for _, e in receiver.refused()}
        receiver.accepting = True
        wait_for(lambda: len(receiver.accepted()) >= 3, timeout=60, what="delivery after the receiver recovered")
        accepted_ids = {e["subject"]: e["id"] for _, e in receiver.accepted()}
        assert accepted_ids == refused_ids
        assert sorted(accepted_ids) == sorted(studies)
        # Every attempt of one event carried the same id.
        for _, event in receiver.refused():
            assert event["id"] == accepted_ids[event["subject"]]
        wait_for(lambda: not svc.request("GET", "/v1/events?status=pending")[1]["items"], timeout=30,
                 what="no pending events")

        # Redeliver sends the same event (same id) once more.
        event_id = accepted_ids[studies[0]]
        _, redelivered, _ = svc.request("POST", f"/v1/events/{event_id}/redeliver", expect=202)
        assert redelivered["id"] == event_id
        wait_for(lambda: len(receiver.accepted()) >= 4, timeout=30, what="redelivered event")
        assert receiver.accepted()[3][1]["id"] == event_id
    finally:
        svc.stop()


def test_sigkill_with_pending_events_delivers_them_after_restart(binary, s3_settings, fresh_database_url, tmp_path, receiver):
    data_dir = str(tmp_path / "data")
    svc = start(binary, s3_settings, fresh_database_url, tmp_path, data_dir)
    receiver.accepting = False
    listener, _ = setup_listener_and_sink(svc, receiver, stable_seconds=1)
    pending_study, dirty_study = new_uid(), new_uid()
    send(listener["port"], [instance(pending_study, new_uid(), 1, 1)])
    wait_for(lambda: len(svc.request("GET", "/v1/events?status=pending")[1]["items"]) == 1, timeout=60,
             what="a pending event")
    refused_id = svc.request("GET", "/v1/events?status=pending")[1]["items"][0]["id"]
    # This study is only marked dirty when the process dies: it is announced after the restart.
    svc.request("PATCH", f"/v1/listeners/{listener['id']}", {"studyStableSeconds": 3600},
                content_type="application/merge-patch+json", expect=200)
    send(listener["port"], [instance(dirty_study, new_uid(), 1, 1)])
    svc.proc.send_signal(signal.SIGKILL)
    svc.proc.wait(timeout=30)
    svc.log.close()

    receiver.accepting = True
    svc = start(binary, s3_settings, fresh_database_url, tmp_path, data_dir)
    try:
        svc.request("PATCH", f"/v1/listeners/{listener['id']}", {"studyStableSeconds": 1},
                    content_type="application/merge-patch+json", expect=200)
        wait_for(lambda: {e["subject"] for _, e in receiver.accepted()} == {pending_study, dirty_study}, timeout=60,
                 what="both events after the restart")
        accepted = {e["subject"]: e["id"] for _, e in receiver.accepted()}
        assert accepted[pending_study] == refused_id
    finally:
        svc.stop()


def test_event_sinks_rest_contract(service):
    bad = {"name": "Bad Name", "kind": "carrier-pigeon", "url": "ftp://example", "secret": "short",
           "eventTypes": ["dicom-ingest.study.stable", "nope"], "listenerIds": ["not-a-uuid"], "colour": "red",
           "id": "x"}
    status, problem, headers = service.request("POST", "/v1/event-sinks", bad)
    assert status == 400 and headers["Content-Type"].startswith("application/problem+json")
    named = {e["field"] for e in problem["errors"]}
    assert {"name", "kind", "eventTypes[1]", "listenerIds[0]", "colour", "id"} <= named, problem
    status, problem, _ = service.request("POST", "/v1/event-sinks", {"name": "hook", "kind": "webhook"})
    assert status == 400 and {e["field"] for e in problem["errors"]} == {"url", "secret"}
    status, problem, _ = service.request("POST", "/v1/event-sinks", {"name": "hook", "kind": "webhook",
                                                                      "url": "ftp://x", "secret": "short"})
    assert status == 400 and {e["field"] for e in problem["errors"]} == {"url", "secret"}

    body = {"name": "crud-" + uuid.uuid4().hex[:8], "kind": "webhook", "url": "http://127.0.0.1:9/hook",
            "secret": SECRET, "eventTypes": ["dicom-ingest.study.updated"]}
    assert service.request("POST", "/v1/event-sinks", body, token=READ_TOKEN)[0] == 403
    _, created, headers = service.request("POST", "/v1/event-sinks", body, expect=201)
    assert headers["Location"] == f"/v1/event-sinks/{created['id']}"
    assert created["secretSet"] is True and "secret" not in created
    assert created["eventTypes"] == ["dicom-ingest.study.updated"]
    assert service.request("GET", f"/v1/event-sinks/{created['id']}", token=READ_TOKEN)[0] == 403
    assert service.request("POST", "/v1/event-sinks", body)[0] == 409
    # PUT without a secret keeps the stored one.
    _, updated, _ = service.request("PUT", f"/v1/event-sinks/{created['id']}",
                                    {"name": body["name"], "kind": "webhook", "url": "https://example.org/x",
                                     "enabled": False}, expect=200)
    assert updated["url"] == "https://example.org/x" and updated["enabled"] is False and updated["secretSet"] is True
    listed = service.request("GET", "/v1/event-sinks", expect=200)[1]["items"]
    assert created["id"] in {s["id"] for s in listed}
    service.request("DELETE", f"/v1/event-sinks/{created['id']}", expect=204)
    service.request("GET", f"/v1/event-sinks/{created['id']}", expect=404)

    status, problem, _ = service.request("GET", "/v1/events?status=lost&sinkId=nope&cursor=zzz")
    assert status == 400 and {e["field"] for e in problem["errors"]} == {"status", "sinkId", "cursor"}
    service.request("POST", f"/v1/events/{uuid.uuid4()}/redeliver", expect=404)
