#!/usr/bin/env python3
"""Decode PDUs with pynetdicom: one hex-encoded PDU per input line (the file named by the first argument, else
stdin) → one JSON object per stdout line.

Used by Tests/DICOMTests/UL/PDUPynetdicomDecodeTests.swift to check our encoder against an outside decoder.
"""
import json
import sys

from pynetdicom import pdu as P
from pynetdicom.pdu_primitives import (
    ImplementationClassUIDNotification, ImplementationVersionNameNotification, MaximumLengthNotification,
    SCP_SCU_RoleSelectionNegotiation, UserIdentityNegotiation,
)

CLASSES = {1: P.A_ASSOCIATE_RQ, 2: P.A_ASSOCIATE_AC, 3: P.A_ASSOCIATE_RJ, 4: P.P_DATA_TF,
           5: P.A_RELEASE_RQ, 6: P.A_RELEASE_RP, 7: P.A_ABORT_RQ}


def user_info(items):
    out = {"roles": []}
    for item in items:
        if isinstance(item, MaximumLengthNotification):
            out["maximumLength"] = item.maximum_length_received
        elif isinstance(item, ImplementationClassUIDNotification):
            out["implementationClassUID"] = str(item.implementation_class_uid)
        elif isinstance(item, ImplementationVersionNameNotification):
            out["implementationVersionName"] = item.implementation_version_name.decode("ascii") \
                if isinstance(item.implementation_version_name, bytes) else str(item.implementation_version_name)
        elif isinstance(item, SCP_SCU_RoleSelectionNegotiation):
            out["roles"].append([str(item.sop_class_uid), bool(item.scu_role), bool(item.scp_role)])
        elif isinstance(item, UserIdentityNegotiation):
            out["userIdentityType"] = item.user_identity_type
    return out


def describe(data):
    pdu = CLASSES[data[0]]()
    pdu.decode(data)
    if data[0] in (1, 2):
        primitive = pdu.to_primitive()
        out = {"type": data[0], "called": primitive.called_ae_title, "calling": primitive.calling_ae_title,
               "applicationContext": str(primitive.application_context_name),
               "userInformation": user_info(primitive.user_information)}
        if data[0] == 1:
            out["contexts"] = [[cx.context_id, str(cx.abstract_syntax), [str(t) for t in cx.transfer_syntax]]
                               for cx in primitive.presentation_context_definition_list]
        else:
            out["contexts"] = [[cx.context_id, cx.result, [str(t) for t in cx.transfer_syntax]]
                               for cx in primitive.presentation_context_definition_results_list]
        return out
    if data[0] == 3:
        return {"type": 3, "result": pdu.result, "source": pdu.source, "reason": pdu.reason_diagnostic}
    if data[0] == 4:
        return {"type": 4, "values": [[item.presentation_context_id, item.presentation_data_value[0],
                                       item.presentation_data_value[1:].hex()]
                                      for item in pdu.presentation_data_value_items]}
    if data[0] == 7:
        return {"type": 7, "source": pdu.source, "reason": pdu.reason_diagnostic}
    return {"type": data[0]}


source = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
for line in source:
    line = line.strip()
    if line:
        print(json.dumps(describe(bytes.fromhex(line))), flush=True)
