"""Values that come off the wire are validated where they enter: the C-STORE-RQ's Affected SOP Instance
UID (PS3.5 §9.1) and the A-ASSOCIATE-RQ's AE titles (PS3.8 §9.3.2). A peer's bad value gets a precise
answer on its own association; the service, every other listener and the REST API stay up."""
import os
import struct
import subprocess
import uuid

import pydicom
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import rawscu
from conftest import free_port

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _element(element, value):
    """One Implicit VR Little Endian element of group 0000 (PS3.7 §6.3.1)."""
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _uid_value(text_or_bytes):
    value = text_or_bytes.encode("ascii") if isinstance(text_or_bytes, str) else text_or_bytes
    return value + (b"\x00" if len(value) % 2 else b"")


def raw_c_store_command(sop_class, sop_instance_bytes, message_id=1):
    """A C-STORE-RQ command set built byte by byte, so the UID can be anything a hostile peer sends."""
    body = (_element(0x0002, _uid_value(sop_class))
            + _element(0x0100, struct.pack("<H", 0x0001))
            + _element(0x0110, struct.pack("<H", message_id))
            + _element(0x0700, struct.pack("<H", 0))
            + _element(0x0800, struct.pack("<H", 0x0001))
            + _element(0x1000, _uid_value(sop_instance_bytes)))
    return _element(0x0000, struct.pack("<I", len(body))) + body


def small_ct_dataset(sop_instance):
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = False
    write_dataset(buf, ds)
    return buf.getvalue()


def send_store(port, sop_instance_bytes, dataset):
    sock, peer_max = rawscu.associate(port, CT_IMAGE_STORAGE, ExplicitVRLittleEndian)
    try:
        sock.sendall(rawscu.pdata(1, 0x03, raw_c_store_command(CT_IMAGE_STORAGE, sop_instance_bytes)))
        rawscu.send_dataset_bytes(sock, dataset, peer_max)
        status, comment, command = rawscu.read_response(sock)
        rawscu.release(sock)
        return status, comment, command
    finally:
        sock.close()


def echo(port, calling="ECHOSCU"):
    return subprocess.run(["/usr/bin/echoscu", "-aet", calling, "-aec", "STORESCP", "127.0.0.1", str(port)],
                          capture_output=True, timeout=30).returncode == 0


def assert_alive(service, port):
    assert service.proc.poll() is None, f"dicom-ingest exited with {service.proc.returncode}:\n{service.log_text()}"
    assert echo(port), "C-ECHO failed after the hostile request"
    uid = generate_uid()
    status, comment, _ = send_store(port, uid, small_ct_dataset(uid))
    assert status == 0x0000, (hex(status), comment)
    service.request("GET", "/healthz", token=None, expect=200)


def listener(service, tmp_name):
    port = free_port()
    service.create_listener(name=tmp_name + "-" + uuid.uuid4().hex[:8], port=port, bindAddress="127.0.0.1",
                            storage={"backend": "filesystem", "path": os.path.join(service.cwd, tmp_name),
                                     "gzip": False})
    return port


def test_overlong_non_ascii_sop_instance_uid_is_refused_and_the_service_survives(service):
    port = listener(service, "wire-uid")
    uid = b"\xe9" * 40_000
    status, comment, command = send_store(port, uid, small_ct_dataset("1.2.3.4"))
    # PS3.7 §C.5: 0117 Invalid Object Instance, and the garbage is not echoed back.
    assert status == 0x0117, (hex(status), comment)
    assert comment and "UID" in comment
    assert 0x00001000 not in command
    assert_alive(service, port)


def test_sop_instance_uids_that_break_ps3_5_are_refused(service):
    port = listener(service, "wire-uid-syntax")
    for bad in [b"1.2.3.a", b"1..2", b"1.2.", b"1" * 65, b"1.2 .3", b"1.2\x003"]:
        status, comment, _ = send_store(port, bad, small_ct_dataset("1.2.3.4"))
        assert status == 0x0117, (bad, hex(status), comment)
    assert_alive(service, port)


def test_a_leading_zero_component_is_tolerated_on_the_wire(service):
    # PS3.5 forbids it, but instances with such UIDs exist; the character set and length still hold.
    port = listener(service, "wire-uid-zero")
    uid = "1.2.826.0.1.3680043.8.498." + "0" + uuid.uuid4().hex[:8].translate(str.maketrans("abcdef", "123456"))
    status, comment, _ = send_store(port, uid, small_ct_dataset(uid))
    assert status == 0x0000, (hex(status), comment)


def associate_raw(port, calling_bytes, called_bytes=b"STORESCP".ljust(16)):
    """An A-ASSOCIATE-RQ with AE title fields exactly as given (16 bytes each)."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
    from pynetdicom.presentation import build_context

    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "PLACEHOLDER"
    primitive.called_ae_title = "STORESCP"
    ctx = build_context("1.2.840.10008.1.1", ["1.2.840.10008.1.2"])
    ctx.context_id = 1
    primitive.presentation_context_definition_list = [ctx]
    ml = MaximumLengthNotification()
    ml.maximum_length_received = 16384
    primitive.user_information = [ml]
    rq = A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    pdu = bytearray(rq.encode())
    # Fixed fields (PS3.8 Table 9-11): called AE at bytes 10-25, calling AE at 26-41.
    pdu[10:26] = called_bytes
    pdu[26:42] = calling_bytes
    import socket
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(bytes(pdu))
        return rawscu.read_pdu(sock)
    finally:
        sock.close()


def test_ae_titles_outside_the_ae_repertoire_are_rejected(service):
    port = listener(service, "wire-ae")
    cases = [
        (b"EVIL\nLINE".ljust(16), b"STORESCP".ljust(16), 3),   # control character in the calling AE
        (b"BACK\\SLASH".ljust(16), b"STORESCP".ljust(16), 3),  # backslash is excluded from AE (PS3.5 §6.2)
        (b"\xe9" * 16, b"STORESCP".ljust(16), 3),              # not the default repertoire
        (b" " * 16, b"STORESCP".ljust(16), 3),                 # all spaces: no AE title (PS3.8 §9.3.2)
        (b"RAWSCU".ljust(16), b"\x01STORESCP".ljust(16), 7),   # control character in the called AE
    ]
    for calling, called, reason in cases:
        pdu_type, body = associate_raw(port, calling, called)
        # A-ASSOCIATE-RJ: result 1 (rejected-permanent), source 1 (service-user), reason as PS3.8 Table 9-21.
        assert pdu_type == 0x03, (calling, called, hex(pdu_type))
        assert (body[1], body[2], body[3]) == (1, 1, reason), (calling, called, tuple(body[1:4]))
    assert_alive(service, port)
