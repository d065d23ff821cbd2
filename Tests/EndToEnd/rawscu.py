"""A minimal storage SCU that sends a file's data set bytes exactly as they are in the file (DCMTK and
pynetdicom re-encode data sets, so only this sender lets a test demand byte identity end to end).
PDUs are encoded with pynetdicom's PDU classes; the DIMSE command with pydicom."""
import socket
import struct
import warnings

import pydicom
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

import corpus


def associate(port, sop_class, ts, calling="RAWSCU", called="STORESCP", max_pdu=16384, host="127.0.0.1"):
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (A_ASSOCIATE, ImplementationClassUIDNotification,
                                           MaximumLengthNotification)
    from pynetdicom.presentation import build_context

    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    ctx = build_context(sop_class, [ts])
    ctx.context_id = 1
    primitive.presentation_context_definition_list = [ctx]
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    impl = ImplementationClassUIDNotification()
    impl.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.2.0.0"
    primitive.user_information = [ml, impl]
    rq = A_ASSOCIATE_RQ()
    rq.from_primitive(primitive)
    sock = socket.create_connection((host, port), timeout=60)
    sock.sendall(rq.encode())
    pdu_type, body = read_pdu(sock)
    assert pdu_type == 0x02, f"association not accepted: PDU type {pdu_type:#x}"
    peer_max = _peer_max_pdu(body)
    return sock, peer_max


def _peer_max_pdu(body):
    # Walk the A-ASSOCIATE-AC variable items to find the maximum length sub-item (0x51).
    offset = 68
    while offset + 4 <= len(body):
        item_type, item_len = body[offset], struct.unpack(">H", body[offset + 2:offset + 4])[0]
        if item_type == 0x50:
            sub = offset + 4
            while sub + 4 <= offset + 4 + item_len:
                st, sl = body[sub], struct.unpack(">H", body[sub + 2:sub + 4])[0]
                if st == 0x51:
                    return struct.unpack(">I", body[sub + 4:sub + 8])[0]
                sub += 4 + sl
        offset += 4 + item_len
    return 0


def read_pdu(sock):
    header = _recv_exact(sock, 6)
    length = struct.unpack(">I", header[2:6])[0]
    return header[0], _recv_exact(sock, length)


def _recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("peer closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def pdata(context_id, control, payload):
    pdv = struct.pack(">IB", len(payload) + 2, context_id) + bytes([control]) + payload
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def c_store_command(sop_class, sop_instance, message_id=1):
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE

    primitive = C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = sop_class
    primitive.AffectedSOPInstanceUID = sop_instance
    primitive.Priority = 0
    msg = C_STORE_RQ()
    msg.primitive_to_message(primitive)
    msg.command_set.CommandDataSetType = 0x0001  # a data set follows (PS3.7 §E.1)
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = True
    write_dataset(buf, msg.command_set)
    return buf.getvalue()


def send_dataset_bytes(sock, data, peer_max, context_id=1):
    # A PDV carries at most peer_max - 6 bytes of value (PDU header 6, PDV header 6 ... keep it simple).
    fragment = (peer_max - 12) if peer_max else 65536
    fragment = max(1024, fragment)
    offset = 0
    while offset < len(data) or offset == 0:
        chunk = data[offset:offset + fragment]
        offset += len(chunk)
        last = offset >= len(data)
        sock.sendall(pdata(context_id, 0x02 if last else 0x00, chunk))
        if not chunk:
            break


def read_response_status(sock):
    status, comment, _ = read_response(sock)
    return status, comment


def read_response(sock):
    """The next DIMSE response command: (status, error comment or None, the command set as a pydicom Dataset)."""
    command = b""
    while True:
        pdu_type, body = read_pdu(sock)
        assert pdu_type == 0x04, f"expected P-DATA-TF, got {pdu_type:#x}"
        offset = 0
        while offset < len(body):
            length = struct.unpack(">I", body[offset:offset + 4])[0]
            control = body[offset + 5]
            command += body[offset + 6:offset + 4 + length]
            offset += 4 + length
            if control & 0x02:
                ds = pydicom.dcmread(DicomBytesIO(command), force=True)
                return int(ds[0x00000900].value), (ds[0x00000902].value if 0x00000902 in ds else None), ds


def release(sock):
    sock.sendall(bytes([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
    try:
        read_pdu(sock)
    finally:
        sock.close()


def store_exact(port, path, calling="RAWSCU", called="STORESCP"):
    """Sends the file's data set bytes verbatim; returns the C-STORE-RSP status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    sock, peer_max = associate(port, ds.SOPClassUID, ds.file_meta.TransferSyntaxUID, calling, called)
    sock.sendall(pdata(1, 0x03, c_store_command(ds.SOPClassUID, ds.SOPInstanceUID)))
    send_dataset_bytes(sock, corpus.dataset_bytes(path), peer_max)
    status, comment = read_response_status(sock)
    release(sock)
    return status, comment
