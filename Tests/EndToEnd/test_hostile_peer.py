"""Hostile peers against the built binary: raw sockets on loopback, every case bounded in bytes and time.

Each case sends what a broken or malicious device could send and asserts the answer PS3.8 / PS3.7 define
(A-ASSOCIATE-RJ with its result/source/reason, A-ABORT with its source/reason, a DIMSE failure status with
an Error Comment); where the standard leaves a choice, the set of acceptable answers is stated. After
every case the service must still answer a C-ECHO (pynetdicom) and store a valid instance (raw C-STORE)
on another association. The suite prints its count of cases and "service alive after each".

The listener under test requires its called AE title (HOSTILE), advertises a 16 KiB Maximum Length and
has 3-second ARTIM and DIMSE timeouts, so slow-loris cases end in seconds.
"""
import socket
import struct
import threading
import time
import uuid
import zlib

import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import conftest
from conftest import READ_TOKEN, Service, free_port, report, service_env

CALLED = "HOSTILE"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
VERIFICATION = "1.2.840.10008.1.1"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
APP_CONTEXT = "1.2.840.10008.3.1.1.1"
MAX_PDU = 16384
TIMEOUT_S = 3
# Bound on any wait for an answer: the listener's timeouts plus generous slack for a loaded machine.
WAIT_S = 30
ROOT_UID = "1.2.826.0.1.3680043.8.498.77."

A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA, A_RELEASE_RP, A_ABORT = 0x02, 0x03, 0x04, 0x06, 0x07
RELEASE_RQ = bytes([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])
RELEASE_RP = bytes([0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0])


# The port of a second listener with the default limits (maxPDUSize 0: 16 MiB advertised), set by the fixture.
DEFAULT_LIMITS_PORT = []


def new_uid():
    return ROOT_UID + str(uuid.uuid4().int)[:30]


# ---- PDU and command builders ---------------------------------------------------------------------

def item(item_type, value, length=None):
    return struct.pack(">BBH", item_type, 0, len(value) if length is None else length) + value


def pdu(pdu_type, body, length=None):
    return struct.pack(">BBI", pdu_type, 0, len(body) if length is None else length) + body


def ae(title):
    return title if isinstance(title, bytes) else title.encode().ljust(16)


def user_information(max_pdu=16384, extra=b""):
    return item(0x50, item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"1.2.826.0.1.3680043.9.3811.2.0.0")
                + extra)


def context_item(cid, abstract, syntaxes, item_type=0x20):
    sub = (item(0x30, abstract.encode()) if abstract is not None else b"")
    sub += b"".join(item(0x40, ts.encode()) for ts in syntaxes)
    return item(item_type, bytes([cid, 0, 0, 0]) + sub)


def associate_rq(contexts=((1, CT, (EXPLICIT,)),), calling="HOSTILESCU", called=CALLED, version=1,
                 app_context=APP_CONTEXT, max_pdu=16384, user=None, extra_items=b""):
    body = struct.pack(">HH", version, 0) + ae(called) + ae(calling) + bytes(32)
    body += item(0x10, app_context.encode())
    body += b"".join(context_item(*c) for c in contexts)
    body += extra_items
    body += user if user is not None else user_information(max_pdu)
    return pdu(0x01, body)


def pdv(cid, control, payload, length=None):
    return struct.pack(">IB", len(payload) + 2 if length is None else length, cid) + bytes([control]) + payload


def pdata(cid, control, payload):
    return pdu(P_DATA, pdv(cid, control, payload))


def element(tag_element, value, group=0):
    return struct.pack("<HHI", group, tag_element, len(value)) + value


def command(elements, group_length=None):
    """Group 0000 elements [(element, bytes)], implicit VR LE, group length first (PS3.7 §6.3)."""
    body = b"".join(element(e, v) for e, v in elements)
    return element(0x0000, struct.pack("<I", len(body) if group_length is None else group_length)) + body


def ui(uid):
    b = uid if isinstance(uid, bytes) else uid.encode()
    return b + b"\0" if len(b) % 2 else b


def us(value):
    return struct.pack("<H", value)


def c_store_rq(sop_instance, sop_class=CT, message_id=1, data_set_type=0x0001, extra=()):
    elements = [(0x0002, ui(sop_class)), (0x0100, us(0x0001)), (0x0110, us(message_id)), (0x0700, us(0)),
                (0x0800, us(data_set_type)), (0x1000, ui(sop_instance))] + list(extra)
    return command(sorted(elements, key=lambda e: e[0]))


def c_echo_rq(message_id=1):
    return command([(0x0002, ui(VERIFICATION)), (0x0100, us(0x0030)), (0x0110, us(message_id)), (0x0800, us(0x0101))])


def data_set(sop_instance, sop_class=CT, explicit=True, extra=None):
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = "20260101"
    ds.Modality = "CT"
    ds.PatientID = "HOSTILE"
    ds.StudyInstanceUID = ROOT_UID + "1"
    ds.SeriesInstanceUID = ROOT_UID + "2"
    if extra:
        extra(ds)
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = not explicit
    write_dataset(buf, ds)
    return buf.getvalue()


def deflated(raw):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(raw) + compressor.flush()


_BOMB = {}


def deflate_bomb(sop_instance):
    """Deflated Explicit VR LE data set expanding ~1000×: the identifying elements, then 256 MiB of zeros
    in an OB value of a private element (compressed once, ~256 KiB)."""
    if "tail" not in _BOMB:
        size = 256 * 1024 * 1024
        header = struct.pack("<HH", 0x0009, 0x0010) + b"LO" + struct.pack("<H", 6) + b"BOMB  "
        header += struct.pack("<HH", 0x0009, 0x1000) + b"OB" + b"\0\0" + struct.pack("<I", size)
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        out = [compressor.compress(header)]
        zeros = bytes(1024 * 1024)
        for _ in range(size // len(zeros)):
            out.append(compressor.compress(zeros))
        out.append(compressor.flush())
        _BOMB["tail"] = b"".join(out)
    # Two raw deflate streams back to back form one: the head ends with a full flush (byte-aligned, no
    # final block, no back-references across), the tail is a stream of its own ending in the final block.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(data_set(sop_instance)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return head + _BOMB["tail"]


# ---- A raw peer ---------------------------------------------------------------------------------

class Closed(Exception):
    pass


class Peer:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)

    def send(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise Closed()
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_pdu(self):
        """(type, body); raises Closed at end of stream."""
        header = self.recv_exact(6)
        length = struct.unpack(">I", header[2:6])[0]
        assert length <= 16 * 1024 * 1024, f"PDU length {length} from the service"
        return header[0], self.recv_exact(length)

    def expect_abort(self, source=None, reason=None, skip_responses=False):
        pdu_type, body = self.read_pdu()
        while skip_responses and pdu_type == P_DATA:  # answers to the messages before the fault
            pdu_type, body = self.read_pdu()
        assert pdu_type == A_ABORT, f"expected A-ABORT, got PDU type {pdu_type:#x}"
        got = (body[2], body[3])
        if source is not None:
            assert got[0] == source, f"A-ABORT source {got[0]}, expected {source} (reason {got[1]})"
        if reason is not None:
            assert got[1] == reason, f"A-ABORT reason {got[1]}, expected {reason}"
        return got

    def expect_reject(self, result, source, reason):
        pdu_type, body = self.read_pdu()
        assert pdu_type == A_ASSOCIATE_RJ, f"expected A-ASSOCIATE-RJ, got PDU type {pdu_type:#x}"
        assert (body[1], body[2], body[3]) == (result, source, reason), \
            f"A-ASSOCIATE-RJ result/source/reason {(body[1], body[2], body[3])}, expected {(result, source, reason)}"

    def expect_accept(self):
        pdu_type, body = self.read_pdu()
        assert pdu_type == A_ASSOCIATE_AC, f"expected A-ASSOCIATE-AC, got PDU type {pdu_type:#x}"
        return accept_results(body)

    def expect_close(self, allow_abort=False):
        """The service closes without sending anything (or, when allowed, after an A-ABORT)."""
        try:
            pdu_type, body = self.read_pdu()
        except (Closed, ConnectionResetError):
            return
        assert allow_abort and pdu_type == A_ABORT, f"expected the connection to close, got PDU type {pdu_type:#x}"
        self.expect_close()

    def response(self):
        """The next DIMSE response command: dict(field, status, responded_to, comment)."""
        command_bytes = b""
        while True:
            pdu_type, body = self.read_pdu()
            if pdu_type == A_ABORT:
                raise AssertionError(f"A-ABORT (source {body[2]}, reason {body[3]}) instead of a DIMSE response")
            assert pdu_type == P_DATA, f"expected P-DATA-TF, got PDU type {pdu_type:#x}"
            offset = 0
            while offset < len(body):
                length = struct.unpack(">I", body[offset:offset + 4])[0]
                control = body[offset + 5]
                assert control & 0x01, "data set PDV in a response the service sends without data set"
                command_bytes += body[offset + 6:offset + 4 + length]
                offset += 4 + length
                if control & 0x02:
                    return parse_command(command_bytes)

    def response_or_abort(self):
        """("response", dict) or ("abort", (source, reason))."""
        command_bytes = b""
        while True:
            pdu_type, body = self.read_pdu()
            if pdu_type == A_ABORT:
                return "abort", (body[2], body[3])
            assert pdu_type == P_DATA, f"expected P-DATA-TF or A-ABORT, got PDU type {pdu_type:#x}"
            offset = 0
            while offset < len(body):
                length = struct.unpack(">I", body[offset:offset + 4])[0]
                control = body[offset + 5]
                command_bytes += body[offset + 6:offset + 4 + length]
                offset += 4 + length
                if control & 0x02:
                    return "response", parse_command(command_bytes)

    def release(self):
        self.send(RELEASE_RQ)
        pdu_type, _ = self.read_pdu()
        assert pdu_type == A_RELEASE_RP, f"expected A-RELEASE-RP, got PDU type {pdu_type:#x}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_command(raw):
    values = {}
    offset = 0
    while offset + 8 <= len(raw):
        group, elem, length = struct.unpack("<HHI", raw[offset:offset + 8])
        values[elem] = raw[offset + 8:offset + 8 + length]
        offset += 8 + length
    u16 = lambda e: struct.unpack("<H", values[e])[0] if e in values else None  # noqa: E731
    comment = values.get(0x0902, b"").decode("latin-1").strip() or None
    return {"field": u16(0x0100), "status": u16(0x0900), "responded_to": u16(0x0120), "comment": comment}


def accept_results(body):
    """{context id: (result, transfer syntax)} of an A-ASSOCIATE-AC body."""
    results = {}
    offset = 68
    while offset + 4 <= len(body):
        item_type, length = body[offset], struct.unpack(">H", body[offset + 2:offset + 4])[0]
        value = body[offset + 4:offset + 4 + length]
        if item_type == 0x21:
            ts = value[8:].decode("latin-1").rstrip("\0 ") if len(value) > 8 else ""
            results.setdefault(value[0], []).append((value[2], ts))
        offset += 4 + length
    return {cid: entries[0] if len(entries) == 1 else entries for cid, entries in results.items()}


def associated(port, contexts=((1, CT, (EXPLICIT,)),), **kwargs):
    peer = Peer(port)
    peer.send(associate_rq(contexts, **kwargs))
    results = peer.expect_accept()
    return peer, results


def is_failure(status):
    """A DIMSE failure that a sender does not retry forever: not success, not a warning, not A7xx."""
    return status is not None and status != 0 and (status & 0xF000) != 0xB000 and (status & 0xFF00) != 0xA700 \
        and status not in (0x0001, 0x0107, 0x0116)


# ---- Health check -------------------------------------------------------------------------------

def echo_with_pynetdicom(port):
    from pynetdicom import AE
    scu = AE(ae_title="HEALTHSCU")
    scu.acse_timeout = scu.dimse_timeout = scu.network_timeout = 15
    scu.add_requested_context(VERIFICATION)
    assoc = scu.associate("127.0.0.1", port, ae_title=CALLED)
    assert assoc.is_established, "C-ECHO association not established"
    try:
        status = assoc.send_c_echo()
        assert status and status.Status == 0, f"C-ECHO status {status}"
    finally:
        assoc.release()


def store_valid_instance(port):
    uid = new_uid()
    peer, results = associated(port)
    try:
        assert results[1][0] == 0, results
        peer.send(pdata(1, 0x03, c_store_rq(uid)))
        peer.send(pdata(1, 0x02, data_set(uid)))
        answer = peer.response()
        assert answer["status"] == 0, f"C-STORE of a valid instance answered {answer}"
        peer.release()
    finally:
        peer.close()
    return uid


def instance_status(service, uid):
    status, _, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
    return status


# ---- The cases ----------------------------------------------------------------------------------

CASES = []


def case(function):
    CASES.append(function)
    return function


# Framing and limits before the association (PS3.8 §9.3.1, Table 9-10 Sta2).

@case
def unknown_pdu_type_before_association(port, service):
    peer = Peer(port)
    peer.send(pdu(0x09, b"\0" * 8))
    peer.expect_abort(source=2, reason=1)  # unrecognized-PDU


@case
def associate_rq_length_0xffffffff(port, service):
    peer = Peer(port)
    peer.send(struct.pack(">BBI", 0x01, 0, 0xFFFFFFFF) + b"\0" * 68)  # the announced body never comes
    peer.expect_abort(source=2, reason=6)  # invalid-PDU-parameter-value, without waiting for the body


@case
def associate_rq_over_64kib(port, service):
    peer = Peer(port)
    rq = associate_rq(extra_items=item(0x60, b"\0" * 65400))  # an unknown item pads it over 64 KiB
    peer.send(rq)
    peer.expect_abort(source=2, reason=6)


@case
def associate_rq_at_64kib_accepted(port, service):
    base = associate_rq()
    pad = 65536 - (len(base) - 6) - 4
    peer = Peer(port)
    peer.send(associate_rq(extra_items=item(0x60, b"\0" * pad)))
    results = peer.expect_accept()
    assert results[1][0] == 0
    peer.release()


@case
def p_data_of_16mib_announced_before_association(port, service):
    # On the listener with default limits (it advertises 16 MiB once associated).
    peer = Peer(DEFAULT_LIMITS_PORT[0])
    # Before the A-ASSOCIATE-AC only association-phase PDUs within 64 KiB are accepted: answered at the header.
    peer.send(struct.pack(">BBI", P_DATA, 0, 16 * 1024 * 1024 - 6) + b"\0" * 1024)
    peer.expect_abort(source=2)


@case
def associate_rq_truncated_then_closed(port, service):
    peer = Peer(port)
    peer.send(associate_rq()[:100])
    peer.close()


@case
def associate_rq_without_fixed_fields(port, service):
    peer = Peer(port)
    peer.send(pdu(0x01, b""))
    peer.expect_abort(source=2, reason=6)


@case
def associate_rq_item_longer_than_pdu(port, service):
    rq = bytearray(associate_rq())
    rq[6 + 68 + 2:6 + 68 + 4] = struct.pack(">H", 0xFFFF)  # the application context item
    peer = Peer(port)
    peer.send(bytes(rq))
    peer.expect_abort(source=2, reason=6)


@case
def presentation_context_item_truncated(port, service):
    peer = Peer(port)
    peer.send(associate_rq(contexts=(), extra_items=item(0x20, b"\x01\0")))
    peer.expect_abort(source=2, reason=6)


@case
def protocol_version_without_bit_0(port, service):
    peer = Peer(port)
    peer.send(associate_rq(version=2))
    peer.expect_reject(1, 2, 2)  # rejected-permanent, UL service-provider (ACSE), protocol-version-not-supported


@case
def unknown_application_context(port, service):
    peer = Peer(port)
    peer.send(associate_rq(app_context="1.2.3.4.5"))
    peer.expect_reject(1, 1, 2)  # application-context-name-not-supported


@case
def wrong_called_ae_title(port, service):
    peer = Peer(port)
    peer.send(associate_rq(called="SOMEONE-ELSE"))
    peer.expect_reject(1, 1, 7)  # called-AE-title-not-recognized


@case
def called_ae_title_of_nuls(port, service):
    peer = Peer(port)
    peer.send(associate_rq(called=b"\0" * 16))
    peer.expect_reject(1, 1, 7)


@case
def called_ae_title_with_leading_spaces_accepted(port, service):
    peer, results = associated(port, called=b"   HOSTILE      ")  # leading/trailing spaces not significant
    assert results[1][0] == 0
    peer.release()


@case
def calling_ae_title_all_spaces(port, service):
    # PS3.8 §9.3.2: 16 spaces ("no Application Name") shall not be used.
    peer = Peer(port)
    peer.send(associate_rq(calling=b" " * 16))
    peer.expect_reject(1, 1, 3)  # calling-AE-title-not-recognized


@case
def calling_ae_title_latin1(port, service):
    # AE titles are ISO 646 (G0) characters; 0xE9 is not one.
    peer = Peer(port)
    peer.send(associate_rq(calling=b"\xe9" * 16))
    peer.expect_reject(1, 1, 3)


@case
def calling_ae_title_with_control_characters(port, service):
    # A newline in an AE title would forge log lines; control characters are not in the AE repertoire.
    peer = Peer(port)
    peer.send(associate_rq(calling=b"EVIL\nlevel=info "))
    peer.expect_reject(1, 1, 3)


@case
def one_hundred_twenty_eight_presentation_contexts(port, service):
    contexts = [(cid, CT, (EXPLICIT, IMPLICIT)) for cid in range(1, 256, 2)]
    peer, results = associated(port, contexts=contexts)
    assert len(results) == 128 and all(r[0] == 0 for r in results.values()), results
    uid = new_uid()
    peer.send(pdata(255, 0x03, c_store_rq(uid)))
    peer.send(pdata(255, 0x02, data_set(uid)))
    assert peer.response()["status"] == 0
    peer.release()


@case
def one_hundred_thirty_presentation_contexts(port, service):
    # Only 128 odd context IDs exist (PS3.8 §9.3.2.2); the two extra reuse IDs 1 and 3.
    contexts = [(cid, CT, (EXPLICIT,)) for cid in range(1, 256, 2)] + [(1, MR, (EXPLICIT,)), (3, MR, (EXPLICIT,))]
    peer = Peer(port)
    peer.send(associate_rq(contexts=contexts))
    pdu_type, body = peer.read_pdu()
    if pdu_type == A_ABORT:
        assert body[2] == 2 and body[3] in (5, 6), (body[2], body[3])
        return
    assert pdu_type == A_ASSOCIATE_AC, f"PDU type {pdu_type:#x}"
    # If accepted, a reused ID keeps its first meaning: context 1 is CT.
    uid = new_uid()
    peer.send(pdata(1, 0x03, c_store_rq(uid)))
    peer.send(pdata(1, 0x02, data_set(uid)))
    assert peer.response()["status"] == 0
    peer.release()


@case
def presentation_context_without_transfer_syntax(port, service):
    peer, results = associated(port, contexts=[(1, CT, ()), (3, CT, (EXPLICIT,))])
    assert results[1][0] == 4 and results[3][0] == 0, results  # transfer-syntaxes-not-supported
    peer.release()


@case
def unknown_transfer_syntax_only(port, service):
    peer, results = associated(port, contexts=[(1, CT, ("1.2.3.4.5.6.7",)), (3, CT, (EXPLICIT,))])
    assert results[1][0] == 4 and results[3][0] == 0, results
    peer.release()


@case
def unsupported_abstract_syntax(port, service):
    peer, results = associated(port, contexts=[(1, FIND, (IMPLICIT,)), (3, CT, (EXPLICIT,))])
    assert results[1][0] == 3 and results[3][0] == 0, results  # abstract-syntax-not-supported
    peer.release()


@case
def presentation_context_without_abstract_syntax(port, service):
    peer = Peer(port)
    peer.send(associate_rq(contexts=[(1, None, (EXPLICIT,)), (3, CT, (EXPLICIT,))]))
    pdu_type, body = peer.read_pdu()
    if pdu_type == A_ABORT:
        assert body[2] == 2 and body[3] in (5, 6), (body[2], body[3])
        return
    assert pdu_type == A_ASSOCIATE_AC
    results = accept_results(body)
    assert results[1][0] != 0 and results[3][0] == 0, results
    peer.release()


@case
def two_user_information_items(port, service):
    peer = Peer(port)
    peer.send(associate_rq(extra_items=user_information()))
    peer.expect_abort(source=2, reason=5)  # unexpected-PDU-parameter


@case
def maximum_length_sub_item_of_two_bytes(port, service):
    peer = Peer(port)
    peer.send(associate_rq(user=item(0x50, item(0x51, b"\x40\x00"))))
    peer.expect_abort(source=2, reason=6)


@case
def role_selection_with_invalid_value(port, service):
    role = item(0x54, struct.pack(">H", len(CT)) + CT.encode() + b"\x02\x00")
    peer = Peer(port)
    peer.send(associate_rq(user=user_information(extra=role)))
    peer.expect_abort(source=2, reason=6)


@case
def peer_maximum_length_of_twelve_bytes(port, service):
    peer, _ = associated(port, contexts=[(1, VERIFICATION, (IMPLICIT,))], max_pdu=12)
    peer.send(pdata(1, 0x03, c_echo_rq(7)))
    command_bytes = b""
    while True:  # every P-DATA-TF the service sends respects our Maximum Length (PS3.8 Annex D.1)
        pdu_type, body = peer.read_pdu()
        assert pdu_type == P_DATA and len(body) <= 12, (pdu_type, len(body))
        command_bytes += body[6:]
        if body[5] & 0x02:
            break
    answer = parse_command(command_bytes)
    assert answer["status"] == 0 and answer["responded_to"] == 7, answer
    peer.release()


# A PDU the state does not allow (PS3.8 Table 9-10).

def _wrong_pdu_in_sta2(data):
    def run(port, service):
        peer = Peer(port)
        peer.send(data)
        source, reason = peer.expect_abort()  # AA-1
        if source == 2:
            assert reason == 2, f"A-ABORT reason {reason}, expected unexpected-PDU"
    return run


ASSOCIATE_AC = pdu(0x02, struct.pack(">HH", 1, 0) + ae(CALLED) + ae("HOSTILESCU") + bytes(32)
                   + item(0x10, APP_CONTEXT.encode()) + item(0x21, b"\x01\0\0\0" + item(0x40, EXPLICIT.encode()))
                   + user_information())
ASSOCIATE_RJ = pdu(0x03, b"\0\x01\x01\x01")
for _name, _data in [("associate_ac", ASSOCIATE_AC), ("associate_rj", ASSOCIATE_RJ),
                     ("p_data", pdata(1, 0x03, c_echo_rq())), ("release_rq", RELEASE_RQ), ("release_rp", RELEASE_RP)]:
    _run = _wrong_pdu_in_sta2(_data)
    _run.__name__ = f"sta2_{_name}"
    case(_run)


@case
def sta2_abort_closes_silently(port, service):
    peer = Peer(port)
    peer.send(pdu(A_ABORT, b"\0\0\0\0"))
    peer.expect_close()  # AA-2: close, send nothing


def _wrong_pdu_in_sta6(data, reason):
    def run(port, service):
        peer, _ = associated(port)
        peer.send(data)
        peer.expect_abort(source=2, reason=reason)  # AA-8
    return run


for _name, _data, _reason in [("associate_rq", associate_rq(), 2), ("associate_ac", ASSOCIATE_AC, 2),
                              ("associate_rj", ASSOCIATE_RJ, 2), ("release_rp", RELEASE_RP, 2),
                              ("unknown_pdu_type", pdu(0x0A, b"\0" * 4), 1),
                              ("release_rq_of_five_bytes", pdu(0x05, b"\0" * 5), 6)]:
    _run = _wrong_pdu_in_sta6(_data, _reason)
    _run.__name__ = f"sta6_{_name}"
    case(_run)


@case
def p_data_after_release_is_not_answered(port, service):
    peer, _ = associated(port)
    peer.send(RELEASE_RQ + pdata(1, 0x03, c_echo_rq()))
    pdu_type, _ = peer.read_pdu()
    assert pdu_type == A_RELEASE_RP
    peer.expect_close(allow_abort=True)  # Sta13: the P-DATA is ignored, no response


@case
def associate_rq_after_reject(port, service):
    peer = Peer(port)
    peer.send(associate_rq(called="NOT-ME") + associate_rq())
    peer.expect_reject(1, 1, 7)
    peer.expect_close(allow_abort=True)  # never an A-ASSOCIATE-AC after the RJ


# P-DATA-TF framing once associated.

@case
def p_data_length_0xffffffff(port, service):
    peer, _ = associated(port)
    peer.send(struct.pack(">BBI", P_DATA, 0, 0xFFFFFFFF) + b"\0" * 64)
    peer.expect_abort(source=2, reason=6)


@case
def p_data_above_advertised_maximum(port, service):
    peer, _ = associated(port)
    peer.send(pdata(1, 0x00, b"\0" * (MAX_PDU + 100)))
    peer.expect_abort(source=2, reason=6)


@case
def pdv_length_0xffffffff(port, service):
    peer, _ = associated(port)
    peer.send(pdu(P_DATA, pdv(1, 0x03, c_echo_rq(), length=0xFFFFFFFF)))
    peer.expect_abort(source=2, reason=6)


@case
def pdv_shorter_than_its_header(port, service):
    peer, _ = associated(port)
    peer.send(pdu(P_DATA, struct.pack(">IBB", 1, 1, 3)))
    peer.expect_abort(source=2, reason=6)


@case
def p_data_without_pdv(port, service):
    peer, _ = associated(port)
    peer.send(pdu(P_DATA, b""))
    peer.expect_abort(source=2, reason=6)


@case
def pdv_on_a_context_not_accepted(port, service):
    peer, _ = associated(port)
    peer.send(pdata(7, 0x03, c_echo_rq()))
    peer.expect_abort()


# Command sets (PS3.7 §6.3, Annex E).

def _abort_on_command(raw):
    def run(port, service):
        peer, _ = associated(port)
        peer.send(pdata(1, 0x03, raw))
        peer.expect_abort()
    return run


for _name, _raw in [
    ("command_element_length_overflow", element(0x0000, us(0) + us(0)) + struct.pack("<HHI", 0, 0x0100, 0xFFFFFFFF) + b"\0\0"),
    ("command_group_length_disagrees", c_store_rq("1.2.3", extra=())[:8] + struct.pack("<I", 9999) + c_store_rq("1.2.3")[12:]),
    ("command_duplicate_element", command([(0x0100, us(0x0030)), (0x0100, us(0x0030)), (0x0110, us(1)), (0x0800, us(0x0101))])),
    ("command_element_outside_group_0000", c_echo_rq() + element(0x0010, b"DOE^JOHN", group=0x0010)),
    ("command_field_of_four_bytes", command([(0x0002, ui(VERIFICATION)), (0x0100, b"\x30\0\0\0"), (0x0110, us(1)), (0x0800, us(0x0101))])),
    ("command_truncated_element_header", c_echo_rq() + b"\0\0\x10"),
]:
    _run = _abort_on_command(_raw)
    _run.__name__ = _name
    case(_run)


@case
def command_over_64kib_in_fragments(port, service):
    peer, _ = associated(port)
    fragment = b"\0" * 16000
    for _ in range(5):  # 80,000 bytes of command, never flagged last
        peer.send(pdata(1, 0x01, fragment))
    peer.expect_abort()


def send_message(peer, cid, command_bytes, payload=None):
    """A command and its data set, each cut into PDVs that fit the listener's Maximum Length."""
    step = MAX_PDU - 12
    for is_command, data in ((True, command_bytes), (False, payload)):
        if data is None:
            continue
        offsets = list(range(0, len(data), step)) or [0]
        for offset in offsets:
            last = offset == offsets[-1]
            peer.send(pdata(cid, (0x01 if is_command else 0) | (0x02 if last else 0), data[offset:offset + step]))


def _store_answer(port, command_bytes, payload, contexts=((1, CT, (EXPLICIT,)),), cid=1):
    peer, _ = associated(port, contexts=contexts)
    send_message(peer, cid, command_bytes, payload)
    return peer, peer.response_or_abort()


@case
def store_message_id_of_four_bytes(port, service):
    uid = new_uid()
    raw = command([(0x0002, ui(CT)), (0x0100, us(1)), (0x0110, b"\1\0\0\0"), (0x0700, us(0)), (0x0800, us(1)),
                   (0x1000, ui(uid))])
    peer, (kind, answer) = _store_answer(port, raw, data_set(uid))
    if kind == "abort":
        return
    assert is_failure(answer["status"]), answer
    assert instance_status(service, uid) == 404
    peer.release()


@case
def store_without_affected_sop_instance_uid(port, service):
    raw = command([(0x0002, ui(CT)), (0x0100, us(1)), (0x0110, us(5)), (0x0700, us(0)), (0x0800, us(1))])
    peer, (kind, answer) = _store_answer(port, raw, data_set(new_uid()))
    assert kind == "response" and answer["status"] == 0x0120, (kind, answer)  # missing attribute
    peer.release()


@case
def store_without_affected_sop_class_uid(port, service):
    uid = new_uid()
    raw = command([(0x0100, us(1)), (0x0110, us(5)), (0x0700, us(0)), (0x0800, us(1)), (0x1000, ui(uid))])
    peer, (kind, answer) = _store_answer(port, raw, data_set(uid))
    assert kind == "response" and answer["status"] == 0x0120, (kind, answer)
    assert instance_status(service, uid) == 404
    peer.release()


@case
def store_sop_class_of_another_context(port, service):
    uid = new_uid()
    peer, (kind, answer) = _store_answer(port, c_store_rq(uid, sop_class=MR), data_set(uid, sop_class=MR))
    assert kind == "response" and answer["status"] == 0x0122, (kind, answer)  # SOP class not supported
    assert instance_status(service, uid) == 404
    peer.release()


def _store_on_verification(sop_class):
    def run(port, service):
        # A C-STORE on the Verification context is refused (0122 / 02xx) or aborted; never stored.
        uid = new_uid()
        peer, (kind, answer) = _store_answer(port, c_store_rq(uid, sop_class=sop_class),
                                             data_set(uid, sop_class=sop_class, explicit=False),
                                             contexts=[(1, VERIFICATION, (IMPLICIT,)), (3, CT, (EXPLICIT,))])
        if kind == "response":
            assert answer["status"] == 0x0122 or (answer["status"] & 0xFF00) == 0x0200, answer
        assert instance_status(service, uid) == 404, "a C-STORE on the Verification context was stored"
    return run


for _name, _class in [("store_of_ct_on_the_verification_context", CT),
                      ("store_claiming_verification_class_on_its_context", VERIFICATION)]:
    _run = _store_on_verification(_class)
    _run.__name__ = _name
    case(_run)


@case
def unknown_command_field(port, service):
    raw = command([(0x0002, ui(CT)), (0x0100, us(0x0123)), (0x0110, us(3)), (0x0800, us(0x0101))])
    peer, (kind, answer) = _store_answer(port, raw, None)
    assert kind == "response" and answer["status"] == 0x0211 and answer["responded_to"] == 3, (kind, answer)
    peer.release()


@case
def c_find_on_a_storage_context(port, service):
    raw = command([(0x0002, ui(FIND)), (0x0100, us(0x0020)), (0x0110, us(4)), (0x0700, us(0)), (0x0800, us(1))])
    peer, (kind, answer) = _store_answer(port, raw, b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    assert kind == "response" and answer["status"] in (0x0211, 0x0122), (kind, answer)
    peer.release()


def _ignored_then_echo(raw):
    def run(port, service):
        peer, _ = associated(port, contexts=[(1, VERIFICATION, (IMPLICIT,))])
        peer.send(pdata(1, 0x03, raw) + pdata(1, 0x03, c_echo_rq(42)))
        answer = peer.response()  # the first message gets no answer; the echo does
        assert answer["field"] == 0x8030 and answer["responded_to"] == 42 and answer["status"] == 0, answer
        peer.release()
    return run


for _name, _raw in [
    ("c_store_rsp_from_peer_ignored", command([(0x0002, ui(CT)), (0x0100, us(0x8001)), (0x0120, us(1)),
                                               (0x0800, us(0x0101)), (0x0900, us(0))])),
    ("c_cancel_ignored", command([(0x0100, us(0x0FFF)), (0x0120, us(1)), (0x0800, us(0x0101))])),
]:
    _run = _ignored_then_echo(_raw)
    _run.__name__ = _name
    case(_run)


def _invalid_instance_uid(uid_bytes):
    def run(port, service):
        # Command-set UIDs are validated where they enter (PS3.5 §9.1: ≤ 64 bytes, digits and dots): a
        # failure status with an Error Comment, or an A-ABORT; never a crash, never stored.
        peer, (kind, answer) = _store_answer(port, c_store_rq(uid_bytes), data_set(new_uid()))
        if kind == "response":
            assert is_failure(answer["status"]) and answer["comment"], answer
            peer.release()
    return run


for _name, _uid in [("instance_uid_of_40000_latin1_bytes", b"\xe9" * 40000),
                    ("instance_uid_of_65_digits", b"1." + b"2" * 63),
                    ("instance_uid_with_letters", b"1.2.abc.4"),
                    ("instance_uid_with_nul_inside", b"1.2\x00.3.4")]:
    _run = _invalid_instance_uid(_uid)
    _run.__name__ = _name
    case(_run)


@case
def move_originator_ae_of_30000_bytes(port, service):
    uid = new_uid()
    raw = c_store_rq(uid, extra=[(0x1030, b"A" * 30000), (0x1031, us(9))])
    peer, (kind, answer) = _store_answer(port, raw, data_set(uid))
    assert kind == "response", f"A-ABORT {answer}"
    assert answer["status"] == 0 or is_failure(answer["status"]), answer
    peer.release()


@case
def store_announcing_no_data_set(port, service):
    uid = new_uid()
    peer, (kind, answer) = _store_answer(port, c_store_rq(uid, data_set_type=0x0101), None)
    assert kind == "response" and is_failure(answer["status"]), (kind, answer)
    peer.release()


# Fragments out of order, last flags missing, interleaved messages (PS3.8 Annex E.2, PS3.7 §9.3).

def _abort_on_sequence(build):
    def run(port, service):
        peer, _ = associated(port, contexts=[(1, CT, (EXPLICIT,)), (3, VERIFICATION, (IMPLICIT,))])
        uid = new_uid()
        for data in build(uid):
            peer.send(data)
        peer.expect_abort(skip_responses=True)
        assert instance_status(service, uid) == 404
    return run


for _name, _build in [
    ("data_set_before_command", lambda uid: [pdata(1, 0x02, data_set(uid))]),
    ("command_while_data_set_arrives", lambda uid: [pdata(1, 0x03, c_store_rq(uid)), pdata(1, 0x00, data_set(uid)[:40]),
                                                    pdata(1, 0x03, c_store_rq(new_uid(), message_id=2))]),
    ("command_fragments_on_two_contexts", lambda uid: [pdata(1, 0x01, c_store_rq(uid)[:20]), pdata(3, 0x03, c_store_rq(uid)[20:])]),
    ("data_set_fragments_on_two_contexts", lambda uid: [pdata(1, 0x03, c_store_rq(uid)), pdata(1, 0x00, data_set(uid)[:40]),
                                                        pdata(3, 0x02, data_set(uid)[40:])]),
    ("data_set_after_a_c_echo", lambda uid: [pdata(3, 0x03, c_echo_rq()), pdata(3, 0x02, data_set(uid))]),
    ("command_never_last_then_release", lambda uid: [pdata(1, 0x01, c_store_rq(uid)), RELEASE_RQ]),
    ("data_set_never_last_then_release", lambda uid: [pdata(1, 0x03, c_store_rq(uid)), pdata(1, 0x00, data_set(uid)), RELEASE_RQ]),
    ("c_echo_interleaved_in_a_data_set", lambda uid: [pdata(1, 0x03, c_store_rq(uid)), pdata(1, 0x00, data_set(uid)[:40]),
                                                      pdata(3, 0x03, c_echo_rq(2))]),
]:
    _run = _abort_on_sequence(_build)
    _run.__name__ = _name
    case(_run)


@case
def command_in_one_byte_fragments(port, service):
    peer, _ = associated(port, contexts=[(1, VERIFICATION, (IMPLICIT,))])
    raw = c_echo_rq(11)
    pdvs = b"".join(pdv(1, 0x01 | (0x02 if i == len(raw) - 1 else 0), raw[i:i + 1]) for i in range(len(raw)))
    peer.send(pdu(P_DATA, pdvs))
    answer = peer.response()
    assert answer["status"] == 0 and answer["responded_to"] == 11, answer
    peer.release()


@case
def store_and_echo_in_one_p_data(port, service):
    peer, _ = associated(port, contexts=[(1, CT, (EXPLICIT,)), (3, VERIFICATION, (IMPLICIT,))])
    uid = new_uid()
    peer.send(pdu(P_DATA, pdv(1, 0x03, c_store_rq(uid, message_id=1)) + pdv(1, 0x02, data_set(uid))
                  + pdv(3, 0x03, c_echo_rq(2))))
    answers = {a["responded_to"]: a for a in (peer.response(), peer.response())}
    assert answers[1]["status"] == 0 and answers[2]["status"] == 0, answers
    peer.release()
    assert instance_status(service, uid) == 200


# Data sets the codec must refuse with a status, not a crash or a stall.

@case
def data_set_ending_inside_an_element(port, service):
    uid = new_uid()
    raw = data_set(uid) + struct.pack("<HH", 0x0010, 0x0010) + b"PN" + struct.pack("<H", 40) + b"DOE"
    peer, (kind, answer) = _store_answer(port, c_store_rq(uid), raw)
    assert kind == "response" and is_failure(answer["status"]) and answer["comment"], (kind, answer)
    peer.release()


@case
def empty_data_set(port, service):
    uid = new_uid()
    peer, (kind, answer) = _store_answer(port, c_store_rq(uid), b"")
    assert kind == "response" and is_failure(answer["status"]) and answer["comment"], (kind, answer)
    peer.release()
    assert instance_status(service, uid) == 404


@case
def invalid_deflate_stream(port, service):
    uid = new_uid()
    peer, (kind, answer) = _store_answer(port, c_store_rq(uid), b"\xff" * 200 + deflated(data_set(uid)),
                                         contexts=[(1, CT, (DEFLATED,))])
    assert kind == "response" and is_failure(answer["status"]) and answer["comment"], (kind, answer)
    peer.release()
    assert instance_status(service, uid) == 404


def _send_bomb(port, uid):
    peer, _ = associated(port, contexts=[(1, CT, (DEFLATED,))])
    try:
        bomb = deflate_bomb(uid)
        peer.send(pdata(1, 0x03, c_store_rq(uid)))
        step = MAX_PDU - 12
        for offset in range(0, len(bomb), step):
            chunk = bomb[offset:offset + step]
            peer.send(pdata(1, 0x02 if offset + step >= len(bomb) else 0x00, chunk))
        return peer.response_or_abort()
    finally:
        peer.close()


def _assert_bomb_refused(service, uid, kind, answer):
    # The expansion bound answers an A900- or C000-family failure with an Error Comment.
    assert kind == "response", f"A-ABORT {answer}"
    status = answer["status"]
    assert (status & 0xFF00) == 0xA900 or (status & 0xF000) == 0xC000, f"deflate bomb answered {status:#06x}"
    assert answer["comment"], "deflate bomb refused without Error Comment"
    assert instance_status(service, uid) == 404


@case
def deflate_bomb_of_1000_times(port, service):
    uid = new_uid()
    kind, answer = _send_bomb(port, uid)
    _assert_bomb_refused(service, uid, kind, answer)


@case
def three_deflate_bombs_at_once(port, service):
    uids = [new_uid() for _ in range(3)]
    results = {}

    def send(uid):
        try:
            results[uid] = _send_bomb(port, uid)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[uid] = ("error", repr(exc))

    threads = [threading.Thread(target=send, args=(uid,)) for uid in uids]
    for t in threads:
        t.start()
    echo_with_pynetdicom(port)  # other senders are not stalled while the bombs are refused
    for t in threads:
        t.join(timeout=WAIT_S * 2)
    for uid in uids:
        kind, answer = results.get(uid, ("missing", None))
        _assert_bomb_refused(service, uid, kind, answer)


# Slow loris at every phase: each ends by the listener's ARTIM or DIMSE timeout (3 s), never by us.

@case
def idle_after_connect(port, service):
    peer = Peer(port)
    peer.expect_close()  # Sta2 + ARTIM expiry: close, nothing sent (AA-2)


@case
def partial_pdu_header_then_idle(port, service):
    peer = Peer(port)
    peer.send(b"\x01\x00\x00")
    peer.expect_close()


@case
def associate_rq_one_byte_at_a_time(port, service):
    peer = Peer(port)
    rq = associate_rq()
    deadline = time.monotonic() + 4 * TIMEOUT_S
    closed = False
    for byte in rq:
        if time.monotonic() > deadline:
            break
        try:
            peer.send(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.25)
    if not closed:
        peer.expect_close()  # the association never came up: no A-ASSOCIATE-AC


@case
def idle_after_associate_ac(port, service):
    peer, _ = associated(port)
    peer.expect_abort()  # DIMSE timeout: A-ABORT, then close


@case
def partial_p_data_then_idle(port, service):
    peer, _ = associated(port)
    peer.send(pdata(1, 0x03, c_echo_rq())[:9])
    peer.expect_abort()


@case
def command_without_data_set_then_idle(port, service):
    peer, _ = associated(port)
    uid = new_uid()
    peer.send(pdata(1, 0x03, c_store_rq(uid)))
    peer.expect_abort()
    assert instance_status(service, uid) == 404


@case
def half_a_data_set_then_idle(port, service):
    peer, _ = associated(port)
    uid = new_uid()
    peer.send(pdata(1, 0x03, c_store_rq(uid)) + pdata(1, 0x00, data_set(uid)[:60]))
    peer.expect_abort()
    assert instance_status(service, uid) == 404


@case
def open_after_release_response(port, service):
    peer, _ = associated(port)
    peer.release()
    peer.expect_close()  # the acceptor closes after A-RELEASE-RP


@case
def open_after_associate_reject(port, service):
    peer = Peer(port)
    peer.send(associate_rq(called="NOT-ME"))
    peer.expect_reject(1, 1, 7)
    peer.expect_close()  # ARTIM bounds how long a rejected requestor may hold the connection


@case
def slow_but_live_data_set(port, service):
    # A data set in small PDUs, each well inside the DIMSE timeout: slow is not hostile.
    peer, _ = associated(port)
    uid = new_uid()
    raw = data_set(uid)
    peer.send(pdata(1, 0x03, c_store_rq(uid)))
    parts = [raw[i:i + len(raw) // 4 + 1] for i in range(0, len(raw), len(raw) // 4 + 1)]
    for index, part in enumerate(parts):
        time.sleep(1)
        peer.send(pdata(1, 0x02 if index == len(parts) - 1 else 0x00, part))
    assert peer.response()["status"] == 0
    peer.release()


@case
def peer_that_never_reads(port, service):
    peer, _ = associated(port, contexts=[(1, VERIFICATION, (IMPLICIT,))])
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    request = pdata(1, 0x03, c_echo_rq())
    peer.sock.settimeout(2 * TIMEOUT_S + 5)
    try:
        for _ in range(20000):  # ~1.6 MB of C-ECHO-RQs, responses never read
            peer.send(request)
    except OSError:
        pass  # the listener stopped reading us (backpressure) or ended the association
    peer.close()


# Transport abuse.

@case
def fifty_idle_connections(port, service):
    peers = [Peer(port) for _ in range(50)]
    for p in peers:
        p.close()
    time.sleep(1)  # let the listener see the 50 FINs before the health check connects from the same address


@case
def reset_in_the_middle_of_a_data_set(port, service):
    peer, _ = associated(port)
    uid = new_uid()
    peer.send(pdata(1, 0x03, c_store_rq(uid)) + pdata(1, 0x00, data_set(uid)[:60]))
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()  # RST
    time.sleep(0.5)
    assert instance_status(service, uid) == 404


# ---- Runner -------------------------------------------------------------------------------------

_alive_after = []


class Hostile:
    """A service of the suite's own (a crash here must not take the other end-to-end files down with it)
    and the hostile listener on it."""

    def __init__(self, binary, env, data_dir):
        self.binary, self.env, self.data_dir = binary, env, data_dir
        self.restarts = 0
        self.service = Service(binary, env, data_dir, data_dir + "/service.log").start()
        self.port = free_port()
        self.service.create_listener(
            name="hostile", port=self.port, bindAddress="127.0.0.1", aeTitle=CALLED, requireCalledAETitle=True,
            storage={"backend": "filesystem", "path": data_dir + "/hostile", "gzip": False},
            limits={"maxPDUSize": MAX_PDU, "dimseTimeoutSeconds": TIMEOUT_S, "networkTimeoutSeconds": TIMEOUT_S})
        self.default_limits_port = free_port()
        self.service.create_listener(
            name="hostile-default-limits", port=self.default_limits_port, bindAddress="127.0.0.1",
            storage={"backend": "filesystem", "path": data_dir + "/hostile-default", "gzip": False},
            limits={"dimseTimeoutSeconds": TIMEOUT_S, "networkTimeoutSeconds": TIMEOUT_S})
        DEFAULT_LIMITS_PORT[:] = [self.default_limits_port]

    def restart_if_dead(self):
        """After a crash, start the binary again (its listener comes back from the catalog) so the
        remaining cases still run; the crashed case has already failed."""
        if self.service.proc.poll() is None:
            return
        self.restarts += 1
        self.service = Service(self.binary, self.env, self.data_dir,
                               self.data_dir + f"/service-{self.restarts}.log").start()
        conftest.wait_for(lambda: any(item["name"] == "hostile" and item["state"] == "running"
                                          for item in self.service.request("GET", "/v1/listeners")[1]["items"]),
                          timeout=30, what="hostile listener running again")


@pytest.fixture(scope="module")
def hostile(binary, s3_settings, tmp_path_factory, request):
    url, admin, name = conftest._new_database()
    data_dir = str(tmp_path_factory.mktemp("hostile"))
    env = service_env(s3_settings, url, data_dir)
    suite = Hostile(binary, env, data_dir)
    yield suite
    suite.service.stop()
    conftest._drop_database(admin, name)
    dead = [n for n, ok in _alive_after if not ok]
    line = f"hostile peer suite: {len(CASES)} cases, {len(_alive_after)} run; " + (
        f"service NOT alive after: {dead}" if dead else "service alive after each")
    report(request, line)


def test_case_count():
    assert len(CASES) >= 50, len(CASES)
    assert len({c.__name__ for c in CASES}) == len(CASES), "duplicate case names"


@pytest.mark.parametrize("hostile_case", CASES, ids=[c.__name__ for c in CASES])
def test_hostile_peer(hostile_case, hostile):
    service, port = hostile.service, hostile.port
    case_error = None
    try:
        hostile_case(port, service)
    except Exception as exc:  # noqa: BLE001 - reported after the health check
        case_error = exc
    # Whatever the case's answer, the service lives on: a C-ECHO and a valid C-STORE on new associations.
    health_error = None
    if service.proc.poll() is not None:
        health_error = f"dicom-ingest died (exit {service.proc.returncode})"
    else:
        try:
            echo_with_pynetdicom(port)
            uid = store_valid_instance(port)
            assert instance_status(service, uid) == 200, "the valid instance is not in the catalog"
        except Exception as exc:  # noqa: BLE001 - reported below
            health_error = f"not healthy: {exc!r}"
    _alive_after.append((hostile_case.__name__, health_error is None))
    if health_error is not None:
        log = service.log_text()[-4000:]
        hostile.restart_if_dead()
        raise AssertionError(f"service {health_error} after {hostile_case.__name__}"
                             + (f" (case: {case_error!r})" if case_error else "") + f"\nlog:\n{log}")
    if case_error is not None:
        raise AssertionError(f"{hostile_case.__name__}: {case_error!r}") from case_error
