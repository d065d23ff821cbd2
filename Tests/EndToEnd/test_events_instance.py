"""Ingest-path events end to end, at a local HTTP receiver: `dicom-ingest.instance.stored` (one per committed
instance, only to sinks that list the type, with the catalog's instance fields) and
`dicom-ingest.association.ended` (the association's counts), both CloudEvents 1.0 with valid signatures;
and `studyStableSeconds: null` set by PATCH turning study events off for that listener."""
import uuid

from conftest import free_port, wait_for
from event_receiver import SECRET, Receiver, instance, new_uid, receiver, send, start, valid_signature  # noqa: F401 (receiver: fixture)

INGEST_TYPES = ["dicom-ingest.instance.stored", "dicom-ingest.association.ended"]


def listener(svc, stable_seconds=1):
    return svc.create_listener(name="ingest-events-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                               storage={"backend": "filesystem", "gzip": False}, studyStableSeconds=stable_seconds)


def sink(svc, url, **fields):
    body = {"name": "hook-" + uuid.uuid4().hex[:8], "kind": "webhook", "url": url, "secret": SECRET, **fields}
    return svc.request("POST", "/v1/event-sinks", body, expect=201)[1]


def all_events(svc):
    items, cursor = [], None
    for _ in range(100):
        _, page, _ = svc.request("GET", "/v1/events?limit=1000" + (f"&cursor={cursor}" if cursor else ""), expect=200)
        items += page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return items
    raise AssertionError("/v1/events did not end")


def test_instance_and_association_events_reach_only_the_sinks_that_list_them(binary, s3_settings, fresh_database_url,
                                                                              tmp_path, receiver):
    studies_receiver = Receiver()
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        watched, unwatched = listener(svc), listener(svc)
        ingest_sink = sink(svc, receiver.url, eventTypes=INGEST_TYPES, listenerIds=[watched["id"]])
        studies_sink = sink(svc, studies_receiver.url)
        assert studies_sink["eventTypes"] in ([], ["dicom-ingest.study.stable", "dicom-ingest.study.updated"])

        # Not listened to: its commit writes no ingest event at all (the row would be there by the C-STORE
        # response, as it is written in the same transaction as the instance).
        other = instance(new_uid(), new_uid(), 1, 1)
        send(unwatched["port"], [other], calling="OTHERSCU")
        assert not [e for e in all_events(svc) if e["type"] in INGEST_TYPES]

        study, series = new_uid(), new_uid()
        sent = [instance(study, series, 1, n) for n in (1, 2, 3)]
        send(watched["port"], sent, calling="INSTSCU")
        # Each instance.stored row was committed with its instance, before its C-STORE response.
        written = [e for e in all_events(svc) if e["type"] in INGEST_TYPES]
        assert sorted(e["subject"] for e in written if e["type"] == INGEST_TYPES[0]) == \
            sorted(ds.SOPInstanceUID for ds in sent)
        # association.ended is written when the service records the end, after the release.
        wait_for(lambda: len([e for e in all_events(svc) if e["type"] == INGEST_TYPES[1]]) == 1, timeout=30,
                 what="the association.ended row")

        wait_for(lambda: len(receiver.accepted()) >= 4, timeout=60, what="three instance.stored and one association.ended")
        wait_for(lambda: len(studies_receiver.accepted()) >= 2, timeout=60, what="two study.stable events")
        with receiver.lock:
            raw = list(receiver.attempts)
        assert all(status == 200 and valid_signature(headers, body) for status, headers, body in raw)
        received = receiver.accepted()
        assert sorted(e["type"] for _, e in received) == \
            ["dicom-ingest.association.ended"] + ["dicom-ingest.instance.stored"] * 3
        for headers, event in received:
            assert event["specversion"] == "1.0"
            assert event["source"] == "urn:dicom-ingest"
            assert headers["x-dicom-ingest-event-id"] == event["id"]
            assert event["time"].endswith("Z")

        stored = {e["subject"]: e for _, e in received if e["type"] == "dicom-ingest.instance.stored"}
        assert sorted(stored) == sorted(ds.SOPInstanceUID for ds in sent)
        rows = {r["sopInstanceUID"]: r for r in svc.request("GET", f"/v1/series/{series}/instances", expect=200)[1]["items"]}
        association_ids = set()
        for uid, event in stored.items():
            data, row = event["data"], rows[uid]
            for field in ("sopInstanceUID", "sopClassUID", "seriesInstanceUID", "studyInstanceUID", "instanceNumber",
                          "transferSyntaxUID", "sizeBytes", "storedBytes", "objectUri", "metadataUri", "sha256",
                          "associationId", "callingAETitle", "calledAETitle", "peerAddress", "receiveCount",
                          "storageState"):
                assert data[field] == row[field], (field, data[field], row[field])
            assert data["listener"] == {"id": watched["id"], "name": watched["name"]}
            assert data["callingAETitle"] == "INSTSCU"
            assert data["modality"] == "CT" and data["patientId"] == "EVENTS1"
            association_ids.add(data["associationId"])
        assert len(association_ids) == 1

        (ended,) = [e for _, e in received if e["type"] == "dicom-ingest.association.ended"]
        association_id = association_ids.pop()
        assert ended["subject"] == association_id
        data = ended["data"]
        row = next(a for a in svc.request("GET", f"/v1/associations?listenerId={watched['id']}", expect=200)[1]["items"]
                   if a["id"] == association_id)
        assert data["associationId"] == association_id
        assert data["listener"] == {"id": watched["id"], "name": watched["name"]}
        assert (data["callingAETitle"], data["calledAETitle"]) == ("INSTSCU", "STORESCP")
        assert data["peerAddress"] == row["peerAddress"]
        assert (data["instancesReceived"], data["instancesFailed"]) == (3, 0)
        assert data["bytesReceived"] == row["bytesReceived"] == sum(r["sizeBytes"] for r in rows.values())
        assert data["outcome"] == row["outcome"] == "released"
        assert data["startedAt"] and data["endedAt"]

        # The study sink got the two study events and nothing of the ingest path; the ingest sink nothing else.
        assert sorted(e["type"] for _, e in studies_receiver.accepted()) == ["dicom-ingest.study.stable"] * 2
        events = all_events(svc)
        for event in events:
            sinks = {d["sinkId"] for d in event["deliveries"]}
            assert sinks == ({ingest_sink["id"]} if event["type"] in INGEST_TYPES else {studies_sink["id"]}), event
    finally:
        svc.stop()
        studies_receiver.close()


def test_patch_null_turns_study_events_off_for_that_listener(binary, s3_settings, fresh_database_url, tmp_path, receiver):
    svc = start(binary, s3_settings, fresh_database_url, tmp_path)
    try:
        off, on = listener(svc), listener(svc)
        _, patched, _ = svc.request("PATCH", f"/v1/listeners/{off['id']}", {"studyStableSeconds": None},
                                    content_type="application/merge-patch+json", expect=200)
        assert patched["studyStableSeconds"] is None
        assert svc.request("GET", f"/v1/listeners/{off['id']}", expect=200)[1]["studyStableSeconds"] is None
        # A patch of something else keeps it off.
        _, kept, _ = svc.request("PATCH", f"/v1/listeners/{off['id']}", {"aeTitle": "STORESCP"},
                                 content_type="application/merge-patch+json", expect=200)
        assert kept["studyStableSeconds"] is None
        sink(svc, receiver.url, eventTypes=["dicom-ingest.study.stable", "dicom-ingest.study.updated"])

        # The quiet study of the listener with events off is older than the other one's: the dispatcher takes
        # dirty studies oldest first, so by the time the later study is announced, the earlier one has been
        # passed over (it would have been announced first with any quiet period up to the other's).
        quiet_off, quiet_on = new_uid(), new_uid()
        send(off["port"], [instance(quiet_off, new_uid(), 1, 1)])
        send(on["port"], [instance(quiet_on, new_uid(), 1, 1)])
        wait_for(lambda: receiver.accepted(), timeout=60, what="study.stable of the listener with events on")
        assert [e["subject"] for _, e in receiver.accepted()] == [quiet_on]
        assert [e["subject"] for e in all_events(svc)] == [quiet_on]
        assert svc.request("GET", f"/v1/studies/{quiet_off}", expect=200)[1]["instanceCount"] == 1
    finally:
        svc.stop()
