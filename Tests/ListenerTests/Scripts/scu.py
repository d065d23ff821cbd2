"""pynetdicom (and raw-socket) peers for the listener's interop tests. Each mode prints one JSON object.

  echo      --port P [--called AE] [--calling AE]           C-ECHO; reports established / rejected (result, source, reason)
  reject    --port P --mode version|appcontext               a request the listener must reject (pynetdicom patched)
  maxassoc  --port P                                         two associations at once; reports both
  store     --port P --files MANIFEST [--max-pdu N] [--contexts 128] [--threads N] [--chunked] [--extra-sop-class UID]...
                                                             C-STOREs of the manifest's files; one association per thread
  abortmid  --port P --file F                                raw peer: C-STORE command + part of the data set, waits for a
                                                             line on stdin, then sends A-ABORT
  unknown   --port P                                         raw peer: N-GET-RQ on a Verification context; reports the status
  awaitabort --port P --file F                               raw peer: like abortmid, then waits for the listener's A-ABORT
  idle      --port P                                         raw peer: associates, then sends nothing; reports what arrives
  storewait --port P --file F                                raw peer: one whole C-STORE, prints "sent", then reports the
                                                             PDUs received until the close
  hold      --port P                                         raw peer: associates, prints "ready", waits for a line on stdin,
                                                             then C-ECHO and A-RELEASE
  violate   --port P --scenario S [--file F]                 raw peer breaking the protocol (garbage, oversized, badcontext,
                                                             releasemid); reports the PDUs received until the close
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

import pydicom
from pynetdicom import AE, evt, _config
from pynetdicom import pdu as PDUs
from pynetdicom.pdu_items import ApplicationContextItem
from pynetdicom.sop_class import Verification
from pynetdicom import StoragePresentationContexts
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

parser = argparse.ArgumentParser()
parser.add_argument("mode")
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--called", default="STORESCP")
parser.add_argument("--calling", default="PYNETDICOM")
parser.add_argument("--files")
parser.add_argument("--file")
parser.add_argument("--max-pdu", type=int, default=16382)
parser.add_argument("--contexts", type=int, default=0)
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--chunked", action="store_true")
parser.add_argument("--reject-mode", dest="reject_mode", default="version")
parser.add_argument("--scenario")
parser.add_argument("--extra-sop-class", dest="extra_sop_classes", action="append", default=[])
args = parser.parse_args()

if os.environ.get("SCU_DEBUG_LOG"):
    # Diagnostics: pynetdicom's own log of every PDU, one file per process.
    import logging
    logging.basicConfig(filename=f"{os.environ['SCU_DEBUG_LOG']}-{os.getpid()}.log", level=logging.DEBUG,
                        format="%(asctime)s %(threadName)s %(message)s")


# pynetdicom 3.0 requestor race, worked around here (it is the peer's bug, not the listener's): before
# each send_c_store() the user thread "pauses" the association's reactor thread by clearing a checkpoint
# and waiting for `_is_paused`, but the reactor sets `_is_paused = True` just before a wait() that may
# return at once, so under CPU load the user thread can see a stale True while the reactor goes on to
# take the next DIMSE message off the queue. When our C-STORE-RSP arrives in that window (a fast
# failure answer does), the reactor logs "Received unexpected C-STORE service message" and drops it,
# and send_c_store() waits for an answer that is gone until the listener's DIMSE timeout aborts the
# association (seen with SCU_DEBUG_LOG in 1 of ~100 runs of the sink-failure test under load). A
# response the reactor did not ask for is put back on the DIMSE queue for the waiting user thread.
from pynetdicom.association import Association as _Association

_serve_request = _Association._serve_request


def _serve_request_keeping_responses(self, msg, context_id):
    if not msg.is_valid_request and getattr(msg, "is_valid_response", False):
        self.dimse.msg_queue.put((context_id, msg))
        return
    _serve_request(self, msg, context_id)


_Association._serve_request = _serve_request_keeping_responses


def make_ae():
    ae = AE(ae_title=args.calling)
    ae.acse_timeout = 30
    ae.dimse_timeout = 120
    ae.network_timeout = 120
    ae.maximum_pdu_size = args.max_pdu
    return ae


def watch_reject():
    seen = {"bytesSent": 0}

    def on_sent(event):
        # Every PDU we send, as encoded on the wire: what the listener's byte counter must see.
        seen["bytesSent"] += len(event.pdu.encode())

    def on_pdu(event):
        if isinstance(event.pdu, PDUs.A_ASSOCIATE_RJ):
            seen["rejected"] = {"result": event.pdu.result, "source": event.pdu.source,
                                "reason": event.pdu.reason_diagnostic}
        if isinstance(event.pdu, PDUs.A_ASSOCIATE_AC):
            seen["acceptorMaxPDU"] = event.pdu.user_information.maximum_length
            seen["acceptorImplementationClassUID"] = str(event.pdu.user_information.implementation_class_uid)
    return seen, [(evt.EVT_PDU_RECV, on_pdu), (evt.EVT_PDU_SENT, on_sent)]


def describe(assoc, seen):
    out = {"established": assoc.is_established, "rejected": seen.get("rejected"), "aborted": assoc.is_aborted}
    for key in ("acceptorMaxPDU", "acceptorImplementationClassUID"):
        if key in seen:
            out[key] = seen[key]
    return out


def mode_echo():
    ae = make_ae()
    ae.add_requested_context(Verification)
    seen, handlers = watch_reject()
    assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, evt_handlers=handlers)
    out = describe(assoc, seen)
    if assoc.is_established:
        status = assoc.send_c_echo()
        out["status"] = status.Status if status else None
        assoc.release()
        out["released"] = assoc.is_released
    out["bytesSent"] = seen["bytesSent"]
    print(json.dumps(out))


def mode_reject():
    original = PDUs.A_ASSOCIATE_RQ.from_primitive

    def patched(self, primitive):
        original(self, primitive)
        if args.reject_mode == "version":
            self.protocol_version = 0x0002  # bit 0 clear
        else:
            for item in self.variable_items:
                if isinstance(item, ApplicationContextItem):
                    item.application_context_name = "1.2.3.4.5.6"

    PDUs.A_ASSOCIATE_RQ.from_primitive = patched
    mode_echo()


def mode_maxassoc():
    ae = make_ae()
    ae.add_requested_context(Verification)
    seen1, handlers1 = watch_reject()
    first = ae.associate("127.0.0.1", args.port, ae_title=args.called, evt_handlers=handlers1)
    seen2, handlers2 = watch_reject()
    second = ae.associate("127.0.0.1", args.port, ae_title=args.called, evt_handlers=handlers2)
    out = {"first": describe(first, seen1), "second": describe(second, seen2)}
    for assoc in (first, second):
        if assoc.is_established:
            assoc.release()
    print(json.dumps(out))


def mode_store():
    # Without --files: propose the --extra-sop-class contexts only, store nothing.
    manifest = json.load(open(args.files)) if args.files else []
    if args.chunked:
        _config.STORE_SEND_CHUNKED_DATASET = True
    results = [None] * args.threads

    def worker(index):
        ae = make_ae()
        if args.contexts:
            # Fill up to `contexts` presentation contexts (pynetdicom allows 128): every storage class, then
            # the same classes again with another transfer syntax.
            classes = [cx.abstract_syntax for cx in StoragePresentationContexts]
            needed = {item["sopClassUID"] for item in manifest}
            uids = sorted(needed) + [uid for uid in classes if uid not in needed]
            count = 0
            for uid in uids:
                if count >= args.contexts:
                    break
                ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
                count += 1
            for uid in uids:
                if count >= args.contexts:
                    break
                ae.add_requested_context(uid, [ImplicitVRLittleEndian])
                count += 1
        else:
            for uid in sorted({item["sopClassUID"] for item in manifest}):
                ae.add_requested_context(uid, [item["transferSyntax"] for item in manifest if item["sopClassUID"] == uid][:1])
        for uid in args.extra_sop_classes:
            ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        seen, handlers = watch_reject()
        assoc = ae.associate("127.0.0.1", args.port, ae_title=args.called, evt_handlers=handlers)
        out = describe(assoc, seen)
        out["acceptedContexts"] = len(assoc.accepted_contexts) if assoc.is_established else 0
        out["rejectedContexts"] = len(assoc.rejected_contexts) if assoc.is_established else 0
        if assoc.is_established:
            # The A-ASSOCIATE-AC result of each proposed abstract syntax (0 acceptance, 3 abstract syntax not supported).
            out["contextResults"] = {str(cx.abstract_syntax): cx.result
                                     for cx in assoc.accepted_contexts + assoc.rejected_contexts}
        statuses = []
        store_ms = []
        if assoc.is_established:
            for number, item in enumerate(manifest):
                path = item["path"]
                dataset = path if args.chunked else pydicom.dcmread(path)
                started = time.monotonic()
                status = assoc.send_c_store(dataset, msg_id=number + 1)
                store_ms.append((time.monotonic() - started) * 1000)
                statuses.append(status.Status if status and "Status" in status else None)
            assoc.release()
            out["released"] = assoc.is_released
        out["statuses"] = statuses
        # Milliseconds from the start of each C-STORE-RQ to its response.
        out["storeMs"] = store_ms
        results[index] = out

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(results if args.threads > 1 else results[0]))


# ---- raw peer (PS3.8 §9.3 byte layouts) ---------------------------------------------------------

def item(item_type, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def associate_rq(contexts, called=args.called, calling=args.calling, max_pdu=16384):
    body = item(0x10, "1.2.840.10008.3.1.1.1")
    for context_id, abstract, syntaxes in contexts:
        sub = item(0x30, abstract) + b"".join(item(0x40, ts) for ts in syntaxes)
        body += struct.pack(">BBH", 0x20, 0, 4 + len(sub)) + bytes([context_id, 0, 0, 0]) + sub
    body += item(0x50, item(0x51, struct.pack(">I", max_pdu)) + item(0x52, "1.2.826.0.1.3680043.9.9999"))
    fixed = struct.pack(">HH", 1, 0) + called.encode().ljust(16) + calling.encode().ljust(16) + bytes(32)
    return struct.pack(">BBI", 0x01, 0, len(fixed + body)) + fixed + body


def read_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def read_pdu(sock):
    pdu_type, _, length = struct.unpack(">BBI", read_exactly(sock, 6))
    return pdu_type, read_exactly(sock, length)


def pdata(context_id, control, data):
    pdv = struct.pack(">I", len(data) + 2) + bytes([context_id, control]) + data
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def element(elem, value):
    if isinstance(value, int):
        value = struct.pack("<H", value)
    elif isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0"
    return struct.pack("<HHI", 0x0000, elem, len(value)) + value


def command(*elements):
    body = b"".join(elements)
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def accepted_context_ids(ac_body):
    ids = {}
    offset = 68
    while offset < len(ac_body):
        item_type, _, length = struct.unpack(">BBH", ac_body[offset:offset + 4])
        if item_type == 0x21:
            ids[ac_body[offset + 4]] = ac_body[offset + 6]
        offset += 4 + length
    return ids


def mode_abortmid():
    ds_bytes = open(args.file, "rb").read()
    original = pydicom.dcmread(args.file)
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.sendall(associate_rq([(1, original.SOPClassUID, [ExplicitVRLittleEndian])]))
    pdu_type, body = read_pdu(sock)
    out = {"associateResponseType": pdu_type}
    if pdu_type != 0x02 or accepted_context_ids(body).get(1) != 0:
        print(json.dumps(out))
        return
    cmd = command(element(0x0002, original.SOPClassUID), element(0x0100, 0x0001), element(0x0110, 7),
                  element(0x0700, 0), element(0x0800, 0x0000), element(0x1000, original.SOPInstanceUID))
    sock.sendall(pdata(1, 0x03, cmd))
    # Two data set fragments, neither flagged last.
    sock.sendall(pdata(1, 0x00, ds_bytes[:4096]))
    sock.sendall(pdata(1, 0x00, ds_bytes[4096:8192]))
    print("sent", flush=True)
    sys.stdin.readline()
    sock.sendall(struct.pack(">BBI", 0x07, 0, 4) + bytes([0, 0, 0, 0]))
    sock.close()
    out["aborted"] = True
    print(json.dumps(out), flush=True)


def start_partial_store(sock):
    original = pydicom.dcmread(args.file)
    ds_bytes = open(args.file, "rb").read()
    sock.sendall(associate_rq([(1, original.SOPClassUID, [ExplicitVRLittleEndian])]))
    pdu_type, body = read_pdu(sock)
    if pdu_type != 0x02 or accepted_context_ids(body).get(1) != 0:
        return False
    cmd = command(element(0x0002, original.SOPClassUID), element(0x0100, 0x0001), element(0x0110, 7),
                  element(0x0700, 0), element(0x0800, 0x0000), element(0x1000, original.SOPInstanceUID))
    sock.sendall(pdata(1, 0x03, cmd))
    sock.sendall(pdata(1, 0x00, ds_bytes[:4096]))
    return True


def read_until_close(sock):
    """PDU types received until the listener closes the connection."""
    types = []
    try:
        while True:
            types.append(read_pdu(sock)[0])
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    return types


def mode_awaitabort():
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(60)
    out = {"started": start_partial_store(sock)}
    print("sent", flush=True)
    out["received"] = read_until_close(sock)
    print(json.dumps(out), flush=True)


def mode_storewait():
    """A whole C-STORE (command and data set), then every PDU received until the listener closes."""
    original = pydicom.dcmread(args.file)
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(120)
    sock.sendall(associate_rq([(1, original.SOPClassUID, [ExplicitVRLittleEndian])]))
    pdu_type, body = read_pdu(sock)
    out = {"associateResponseType": pdu_type}
    if pdu_type == 0x02 and accepted_context_ids(body).get(1) == 0:
        cmd = command(element(0x0002, original.SOPClassUID), element(0x0100, 0x0001), element(0x0110, 7),
                      element(0x0700, 0), element(0x0800, 0x0000), element(0x1000, original.SOPInstanceUID))
        sock.sendall(pdata(1, 0x03, cmd))
        data = explicit_little_endian_dataset(original)
        for offset in range(0, len(data), 8192):
            last = offset + 8192 >= len(data)
            sock.sendall(pdata(1, 0x02 if last else 0x00, data[offset:offset + 8192]))
        print("sent", flush=True)
        out["received"] = read_all_until_close(sock)
    print(json.dumps(out), flush=True)


def explicit_little_endian_dataset(dataset):
    """The data set alone (no preamble, no file meta) in Explicit VR Little Endian."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    write_dataset(buffer, dataset)
    return buffer.getvalue()


def mode_idle():
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(60)
    sock.sendall(associate_rq([(1, "1.2.840.10008.1.1", [ImplicitVRLittleEndian])]))
    out = {"associateResponseType": read_pdu(sock)[0]}
    out["received"] = read_until_close(sock)
    print(json.dumps(out))


def mode_hold():
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(60)
    sock.sendall(associate_rq([(1, "1.2.840.10008.1.1", [ImplicitVRLittleEndian])]))
    out = {"associateResponseType": read_pdu(sock)[0]}
    print("ready", flush=True)
    sys.stdin.readline()
    sock.sendall(pdata(1, 0x03, command(element(0x0002, "1.2.840.10008.1.1"), element(0x0100, 0x0030),
                                        element(0x0110, 5), element(0x0800, 0x0101))))
    pdu_type, body = read_pdu(sock)
    out["echoResponseType"] = pdu_type
    sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))
    out["releaseResponseType"] = read_pdu(sock)[0]
    sock.close()
    print(json.dumps(out), flush=True)


def read_all_until_close(sock):
    pdus = []
    try:
        while True:
            pdu_type, body = read_pdu(sock)
            entry = {"type": pdu_type}
            if pdu_type == 0x07:
                entry["source"], entry["reason"] = body[2], body[3]
            pdus.append(entry)
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    return pdus


def mode_violate():
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(30)
    out = {}
    if args.scenario == "garbage":
        sock.sendall(bytes([0x09, 0, 0, 0, 0, 4]) + b"abcd")
    elif args.scenario == "oversized":
        sock.sendall(struct.pack(">BBI", 0x01, 0, 1024 * 1024) + bytes(4096))
    elif args.scenario == "badcontext":
        sock.sendall(associate_rq([(1, "1.2.840.10008.1.1", [ImplicitVRLittleEndian])]))
        out["associateResponseType"] = read_pdu(sock)[0]
        sock.sendall(pdata(3, 0x03, command(element(0x0002, "1.2.840.10008.1.1"), element(0x0100, 0x0030),
                                            element(0x0110, 1), element(0x0800, 0x0101))))
    elif args.scenario == "releasemid":
        out["started"] = start_partial_store(sock)
        sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))
    out["received"] = read_all_until_close(sock)
    print(json.dumps(out))


def mode_unknown():
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.settimeout(30)
    sock.sendall(associate_rq([(1, "1.2.840.10008.1.1", [ImplicitVRLittleEndian])]))
    pdu_type, body = read_pdu(sock)
    out = {"associateResponseType": pdu_type}
    if pdu_type == 0x02:
        # N-GET-RQ (0x0110) without a data set: not a Verification operation.
        sock.sendall(pdata(1, 0x03, command(element(0x0003, "1.2.840.10008.1.1"), element(0x0100, 0x0110),
                                            element(0x0110, 42), element(0x0800, 0x0101),
                                            element(0x1001, "1.2.3"))))
        pdu_type, body = read_pdu(sock)
        out["responseType"] = pdu_type
        if pdu_type == 0x04:
            data = body[6:]
            fields = {}
            offset = 0
            while offset < len(data):
                _, elem, length = struct.unpack("<HHI", data[offset:offset + 8])
                fields[elem] = data[offset + 8:offset + 8 + length]
                offset += 8 + length
            out["commandField"] = struct.unpack("<H", fields[0x0100])[0]
            out["messageIDBeingRespondedTo"] = struct.unpack("<H", fields[0x0120])[0]
            out["status"] = struct.unpack("<H", fields[0x0900])[0]
        # A-RELEASE-RQ, expect A-RELEASE-RP.
        sock.sendall(struct.pack(">BBI", 0x05, 0, 4) + bytes(4))
        out["releaseResponseType"] = read_pdu(sock)[0]
    sock.close()
    print(json.dumps(out))


{"echo": mode_echo, "reject": mode_reject, "maxassoc": mode_maxassoc, "store": mode_store,
 "abortmid": mode_abortmid, "unknown": mode_unknown, "awaitabort": mode_awaitabort, "idle": mode_idle,
 "hold": mode_hold, "violate": mode_violate, "storewait": mode_storewait}[args.mode]()
