"""Two service processes on one PostgreSQL catalog deliver events together: every event reaches the receiver
from exactly one node (receipts counted per event id, the sending process told apart by its TCP socket), and
when the node in the middle of a delivery is killed (SIGKILL while the receiver holds its request open), the
other node delivers the same event once the dead node's lease has run out (DICOM_INGEST_EVENTS_LEASE_SECONDS,
short here)."""
import collections
import signal
import uuid

from conftest import free_port, wait_for
from event_receiver import SECRET, instance, new_uid, receiver, send, socket_owner, start  # noqa: F401 (receiver: fixture)

LEASE_SECONDS = 5
ALL_TYPES = ["dicom-ingest.study.stable", "dicom-ingest.study.updated", "dicom-ingest.instance.stored",
             "dicom-ingest.association.ended"]


def node(binary, s3_settings, database_url, tmp_path, name):
    return start(binary, s3_settings, database_url, tmp_path, data_dir=str(tmp_path / f"data-{name}"), name=name,
                 DICOM_INGEST_EVENTS_LEASE_SECONDS=str(LEASE_SECONDS), DICOM_INGEST_NODE_ID=f"node-{name}")


def pending(svc):
    return svc.request("GET", "/v1/events?status=pending", expect=200)[1]["items"]


def test_each_event_is_delivered_by_one_node_and_a_killed_nodes_delivery_is_taken_over(
        binary, s3_settings, fresh_database_url, tmp_path, receiver):
    # The listener is created while node A runs alone, so A holds its port (B's bind of it fails, which this
    # test does not need: the events come from the shared catalog, whichever node received the instances).
    a = node(binary, s3_settings, fresh_database_url, tmp_path, "a")
    b = None
    try:
        listener = a.create_listener(name="two-nodes-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                                     storage={"backend": "filesystem", "gzip": False}, studyStableSeconds=1)
        b = node(binary, s3_settings, fresh_database_url, tmp_path, "b")
        pids = {a.proc.pid: "a", b.proc.pid: "b"}
        receiver.identify = lambda port: pids.get(socket_owner(port, list(pids)))
        _, hook, _ = a.request("POST", "/v1/event-sinks", {"name": "hook-" + uuid.uuid4().hex[:8], "kind": "webhook",
                                                           "url": receiver.url, "secret": SECRET,
                                                           "eventTypes": ALL_TYPES}, expect=201)
        # Node B learns of the sink at its next outbox scan; the instances below reach node A, which wrote it.
        studies = [new_uid() for _ in range(12)]
        send(listener["port"], [instance(study, new_uid(), 1, 1) for study in studies])
        expected = len(studies) * 2 + 1  # instance.stored and study.stable per study, one association.ended
        wait_for(lambda: len({r[1] for r in receiver.receipts}) >= expected, timeout=120,
                 what=f"{expected} distinct events at the receiver")
        wait_for(lambda: not pending(a) and not pending(b), timeout=60, what="no pending deliveries")

        receipts = list(receiver.receipts)
        per_event = collections.Counter(event_id for _, event_id, _ in receipts)
        assert len(per_event) == expected
        assert all(count == 1 for count in per_event.values()), per_event
        assert all(status == 200 and who in ("a", "b") for status, _, who in receipts), receipts
        per_node = collections.Counter(who for _, _, who in receipts)
        print(f"deliveries per node: {dict(per_node)}")
        types = collections.Counter(event["type"] for _, event in receiver.accepted())
        assert types == {"dicom-ingest.instance.stored": 12, "dicom-ingest.study.stable": 12,
                         "dicom-ingest.association.ended": 1}

        # Mid-delivery death: one study event only, its request held open by the receiver.
        a.request("PUT", f"/v1/event-sinks/{hook['id']}", {"name": hook["name"], "kind": "webhook", "url": receiver.url,
                                                           "eventTypes": ["dicom-ingest.study.stable"]}, expect=200)
        receiver.hold_next()
        late_study = new_uid()
        send(listener["port"], [instance(late_study, new_uid(), 1, 1)])
        wait_for(lambda: receiver.held, timeout=60, what="a delivery held open at the receiver")
        held_id, holder = receiver.held[0]
        assert holder in ("a", "b"), receiver.held
        dying, survivor = (a, b) if holder == "a" else (b, a)
        dying.stop(signal.SIGKILL)
        receiver.release.set()

        # The survivor takes the delivery over once the lease runs out: the same event, the same id.
        wait_for(lambda: held_id in {event_id for _, event_id, _ in receiver.receipts}, timeout=LEASE_SECONDS * 12,
                 what="the held event delivered by the surviving node")
        takeover = [(status, who) for status, event_id, who in receiver.receipts if event_id == held_id]
        assert takeover == [(200, "b" if holder == "a" else "a")], takeover
        (_, event), = [(h, e) for h, e in receiver.accepted() if e["id"] == held_id]
        assert event["subject"] == late_study and event["type"] == "dicom-ingest.study.stable"
        wait_for(lambda: not pending(survivor), timeout=30, what="the taken-over delivery recorded")
        delivery, = survivor.request("GET", f"/v1/events/{held_id}", expect=200)[1]["deliveries"]
        assert delivery["status"] == "delivered" and delivery["sinkId"] == hook["id"]
        # The killed node never recorded its attempt: the survivor's is the first.
        assert delivery["attempts"] == 1
    finally:
        receiver.release.set()
        a.stop(signal.SIGKILL)
        if b:
            b.stop(signal.SIGKILL)
