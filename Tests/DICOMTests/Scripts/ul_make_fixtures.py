#!/usr/bin/env python3
"""Golden bytes for the Upper Layer / DIMSE tests (Tests/DICOMTests/UL*, PDU*, DIMSE*, Association*).

Regenerate: python3 Tests/DICOMTests/Scripts/ul_make_fixtures.py
Writes Tests/DICOMTests/Fixtures/ul_pdus/*.hex (one PDU per file, lowercase hex) and *.json (expected fields),
and Tests/DICOMTests/Fixtures/ul_fsm/transition_table.json (pynetdicom's PS3.8 Table 9-10).

Sources of truth:
  * pynetdicom's PDU classes (pynetdicom.pdu.A_ASSOCIATE_RQ etc., .encode()) for every PDU type and item;
  * pynetdicom's DIMSE message classes for C-ECHO / C-STORE command sets;
  * what DCMTK echoscu and storescu (-xb, -xe, -xi, -xd, default) actually send: a tiny TCP server records their
    first PDU (and, for echoscu, the C-ECHO-RQ after a pynetdicom-encoded A-ASSOCIATE-AC).
"""
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading

from pynetdicom import pdu, pdu_primitives as prim
from pynetdicom.presentation import PresentationContext
from pynetdicom.fsm import TRANSITION_TABLE
from pynetdicom import dimse_messages, dimse_primitives

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Fixtures", "ul_pdus")
FSM_OUT = os.path.join(HERE, "..", "Fixtures", "ul_fsm")

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
DEFLATE = "1.2.840.10008.1.2.1.99"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
# (0010,0020) LO "X " then 100 zero bytes: opaque to the DIMSE layer.
STORE_DATA_SET = b"\x10\x00\x20\x00\x02\x00\x00\x00X " + b"\x00" * 100


def write(name, data, fields=None):
    with open(os.path.join(OUT, name + ".hex"), "w") as f:
        f.write(data.hex() + "\n")
    if fields is not None:
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(fields, f, indent=1, sort_keys=True)
            f.write("\n")


def context(cid, abstract, syntaxes, result=None):
    cx = PresentationContext()
    cx.context_id = cid
    if abstract is not None:
        cx.abstract_syntax = abstract
    cx.transfer_syntax = syntaxes
    if result is not None:
        cx.result = result
    return cx


def user_information(full):
    items = []
    ml = prim.MaximumLengthNotification()
    ml.maximum_length_received = 16382
    items.append(ml)
    ic = prim.ImplementationClassUIDNotification()
    ic.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.2.1"
    items.append(ic)
    if full:
        aw = prim.AsynchronousOperationsWindowNegotiation()
        aw.maximum_number_operations_invoked = 5
        aw.maximum_number_operations_performed = 3
        items.append(aw)
        for uid, scu, scp in [(CT_IMAGE, True, False), (MR_IMAGE, False, True)]:
            rs = prim.SCP_SCU_RoleSelectionNegotiation()
            rs.sop_class_uid = uid
            rs.scu_role = scu
            rs.scp_role = scp
            items.append(rs)
    iv = prim.ImplementationVersionNameNotification()
    iv.implementation_version_name = "PYNETDICOM_TEST"
    items.append(iv)
    if full:
        ex = prim.SOPClassExtendedNegotiation()
        ex.sop_class_uid = CT_IMAGE
        ex.service_class_application_information = b"\x01\x00\x01\x00"
        items.append(ex)
        ce = prim.SOPClassCommonExtendedNegotiation()
        ce.sop_class_uid = "1.2.840.10008.5.1.4.1.1.88.22"
        ce.service_class_uid = "1.2.840.10008.4.2"
        ce.related_general_sop_class_identification = ["1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.33"]
        items.append(ce)
        ui = prim.UserIdentityNegotiation()
        ui.user_identity_type = 2
        ui.positive_response_requested = True
        ui.primary_field = b"user"
        ui.secondary_field = b"secret"
        items.append(ui)
    return items


def associate_rq(full):
    p = prim.A_ASSOCIATE()
    p.application_context_name = "1.2.840.10008.3.1.1.1"
    p.calling_ae_title = "PYNETDICOM"
    p.called_ae_title = "ANY-SCP"
    p.presentation_context_definition_list = [
        context(1, VERIFICATION, [IMPLICIT]),
        context(3, CT_IMAGE, [EXPLICIT, IMPLICIT, BIG]),
        context(5, MR_IMAGE, [JPEG_BASELINE, DEFLATE]),
    ]
    p.user_information = user_information(full)
    out = pdu.A_ASSOCIATE_RQ()
    out.from_primitive(p)
    return out.encode()


def associate_ac():
    p = prim.A_ASSOCIATE()
    p.application_context_name = "1.2.840.10008.3.1.1.1"
    p.calling_ae_title = "PYNETDICOM"
    p.called_ae_title = "ANY-SCP"
    p.result = 0
    p.presentation_context_definition_results_list = [
        context(1, None, [IMPLICIT], result=0),
        context(3, None, [EXPLICIT], result=0),
        context(5, None, [JPEG_BASELINE], result=4),
    ]
    items = []
    ml = prim.MaximumLengthNotification()
    ml.maximum_length_received = 32768
    items.append(ml)
    ic = prim.ImplementationClassUIDNotification()
    ic.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.2.1"
    items.append(ic)
    rs = prim.SCP_SCU_RoleSelectionNegotiation()
    rs.sop_class_uid = CT_IMAGE
    rs.scu_role = True
    rs.scp_role = False
    items.append(rs)
    iv = prim.ImplementationVersionNameNotification()
    iv.implementation_version_name = "PYNETDICOM_TEST"
    items.append(iv)
    ui = prim.UserIdentityNegotiation()
    ui.server_response = b"token-ok"
    items.append(ui)
    p.user_information = items
    out = pdu.A_ASSOCIATE_AC()
    out.from_primitive(p)
    return out.encode()


def associate_rj(result, source, reason):
    p = prim.A_ASSOCIATE()
    p.result = result
    p.result_source = source
    p.diagnostic = reason
    out = pdu.A_ASSOCIATE_RJ()
    out.from_primitive(p)
    return out.encode()


def p_data(values):
    p = prim.P_DATA()
    p.presentation_data_value_list = [list(v) for v in values]
    out = pdu.P_DATA_TF()
    out.from_primitive(p)
    return out.encode()


def release(rq):
    p = prim.A_RELEASE()
    if not rq:
        p.result = "affirmative"
    out = pdu.A_RELEASE_RQ() if rq else pdu.A_RELEASE_RP()
    out.from_primitive(p)
    return out.encode()


def abort(source, reason):
    if source == 0:
        p = prim.A_ABORT()
        p.abort_source = 0
    else:
        p = prim.A_P_ABORT()
        p.provider_reason = reason
    out = pdu.A_ABORT_RQ()
    out.from_primitive(p)
    return out.encode()


def encode_message(msg_class, primitive_class, fill, max_pdu=0):
    """Encode a DIMSE message the way pynetdicom sends it (primitive → message → P-DATA-TF PDUs).
    Returns (command set bytes, list of encoded PDUs)."""
    primitive = primitive_class()
    for key, value in fill.items():
        setattr(primitive, key, value)
    msg = msg_class()
    msg.primitive_to_message(primitive)
    fragments = b""
    pdus = []
    for p in msg.encode_msg(1, max_pdu):
        pdus.append(p_data(p.presentation_data_value_list))
        for _, value in p.presentation_data_value_list:
            if value[0] & 1:
                fragments += value[1:]
    return fragments, pdus


# ---- DCMTK capture -----------------------------------------------------------------------------------------

def read_pdu(conn):
    header = b""
    while len(header) < 6:
        chunk = conn.recv(6 - len(header))
        if not chunk:
            return None
        header += chunk
    length = struct.unpack(">I", header[2:6])[0]
    body = b""
    while len(body) < length:
        chunk = conn.recv(min(65536, length - len(body)))
        if not chunk:
            return None
        body += chunk
    return header + body


def capture(command, answer_echo=False):
    """Run a DCMTK SCU against a one-shot server; return the PDUs it sent."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(30)
    port = server.getsockname()[1]
    received = []

    def serve():
        conn, _ = server.accept()
        conn.settimeout(30)
        try:
            rq = read_pdu(conn)
            received.append(rq)
            if not answer_echo:
                conn.sendall(abort(2, 0))
                return
            decoded = pdu.A_ASSOCIATE_RQ()
            decoded.decode(rq)
            primitive = decoded.to_primitive()
            ac = prim.A_ASSOCIATE()
            ac.application_context_name = "1.2.840.10008.3.1.1.1"
            ac.calling_ae_title = primitive.calling_ae_title
            ac.called_ae_title = primitive.called_ae_title
            ac.result = 0
            results = []
            for cx in primitive.presentation_context_definition_list:
                results.append(context(cx.context_id, None, [cx.transfer_syntax[0]], result=0))
            ac.presentation_context_definition_results_list = results
            ml = prim.MaximumLengthNotification()
            ml.maximum_length_received = 16384
            ic = prim.ImplementationClassUIDNotification()
            ic.implementation_class_uid = "1.2.826.0.1.3680043.9.3811.2.1"
            ac.user_information = [ml, ic]
            out = pdu.A_ASSOCIATE_AC()
            out.from_primitive(ac)
            conn.sendall(out.encode())
            echo = read_pdu(conn)
            received.append(echo)
            _, rsp_pdus = encode_message(dimse_messages.C_ECHO_RSP, dimse_primitives.C_ECHO, {
                "MessageIDBeingRespondedTo": 1, "AffectedSOPClassUID": VERIFICATION, "Status": 0})
            for p in rsp_pdus:
                conn.sendall(p)
            rel = read_pdu(conn)
            received.append(rel)
            conn.sendall(release(False))
        finally:
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    args = [a.replace("PORT", str(port)) for a in command]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    thread.join(60)
    server.close()
    return received


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(FSM_OUT, exist_ok=True)

    write("pynetdicom_associate_rq_full", associate_rq(True), {
        "calledAETitle": "ANY-SCP", "callingAETitle": "PYNETDICOM",
        "contexts": [[1, VERIFICATION, [IMPLICIT]], [3, CT_IMAGE, [EXPLICIT, IMPLICIT, BIG]], [5, MR_IMAGE, [JPEG_BASELINE, DEFLATE]]],
        "maximumLength": 16382, "implementationClassUID": "1.2.826.0.1.3680043.9.3811.2.1",
        "implementationVersionName": "PYNETDICOM_TEST",
    })
    write("pynetdicom_associate_rq_minimal", associate_rq(False))
    write("pynetdicom_associate_ac", associate_ac())
    write("pynetdicom_associate_rj_called_ae", associate_rj(1, 1, 7))
    write("pynetdicom_associate_rj_local_limit", associate_rj(2, 3, 2))
    write("pynetdicom_associate_rj_protocol_version", associate_rj(1, 2, 2))
    write("pynetdicom_p_data_two_pdvs", p_data([[1, b"\x03" + bytes(range(10))], [3, b"\x00" + b"\xAA" * 7]]))
    write("pynetdicom_release_rq", release(True))
    write("pynetdicom_release_rp", release(False))
    write("pynetdicom_abort_user", abort(0, 0))
    write("pynetdicom_abort_provider_invalid_param", abort(2, 6))

    echo_cmd, _ = encode_message(dimse_messages.C_ECHO_RQ, dimse_primitives.C_ECHO, {
        "MessageID": 7, "AffectedSOPClassUID": VERIFICATION})
    write("pynetdicom_c_echo_rq_command", echo_cmd)
    rsp_cmd, _ = encode_message(dimse_messages.C_ECHO_RSP, dimse_primitives.C_ECHO, {
        "MessageIDBeingRespondedTo": 7, "AffectedSOPClassUID": VERIFICATION, "Status": 0})
    write("pynetdicom_c_echo_rsp_command", rsp_cmd)
    store_cmd, store_pdus = encode_message(dimse_messages.C_STORE_RQ, dimse_primitives.C_STORE, {
        "MessageID": 12, "AffectedSOPClassUID": CT_IMAGE, "AffectedSOPInstanceUID": "1.2.3.4.5.6.7", "Priority": 2,
        "MoveOriginatorApplicationEntityTitle": "MOVER", "MoveOriginatorMessageID": 99,
        "DataSet": io.BytesIO(STORE_DATA_SET)}, max_pdu=32)
    write("pynetdicom_c_store_rq_command", store_cmd)
    # The whole message as pynetdicom splits it for a peer maximum of 32 bytes (data set: STORE_DATA_SET).
    write("pynetdicom_c_store_rq_pdus_max32", b"".join(store_pdus))
    store_rsp_cmd, _ = encode_message(dimse_messages.C_STORE_RSP, dimse_primitives.C_STORE, {
        "MessageIDBeingRespondedTo": 12, "AffectedSOPClassUID": CT_IMAGE, "AffectedSOPInstanceUID": "1.2.3.4.5.6.7",
        "Status": 0xA700, "ErrorComment": "out of resources"})
    write("pynetdicom_c_store_rsp_command", store_rsp_cmd)

    table = {f"{event} {state}": action for (event, state), action in TRANSITION_TABLE.items()}
    with open(os.path.join(FSM_OUT, "transition_table.json"), "w") as f:
        json.dump(table, f, indent=1, sort_keys=True)
        f.write("\n")

    import pydicom
    ct = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "CT_small.dcm")
    got = capture(["/usr/bin/echoscu", "-aet", "ECHOSCU", "-aec", "ANY-SCP", "127.0.0.1", "PORT"], answer_echo=True)
    if len(got) != 3 or any(g is None for g in got):
        sys.exit("echoscu capture failed")
    write("dcmtk_echoscu_associate_rq", got[0])
    write("dcmtk_echoscu_p_data_c_echo_rq", got[1])
    write("dcmtk_echoscu_release_rq", got[2])
    for flag in ["default", "-xb", "-xe", "-xi", "-xd"]:
        args = ["/usr/bin/storescu", "-aet", "STORESCU", "-aec", "ANY-SCP"]
        if flag != "default":
            args.append(flag)
        got = capture(args + ["127.0.0.1", "PORT", ct])
        if not got or got[0] is None:
            sys.exit(f"storescu {flag} capture failed")
        write(f"dcmtk_storescu_{flag.strip('-')}_associate_rq", got[0])


if __name__ == "__main__":
    main()
