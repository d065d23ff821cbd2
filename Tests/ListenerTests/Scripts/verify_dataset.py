"""Checks that a data set received by the listener is the data set of a Part 10 file.

usage: verify_dataset.py RECEIVED TRANSFER_SYNTAX_UID ORIGINAL.dcm
RECEIVED holds the data set bytes exactly as the listener handed them to the sink (no preamble, no
file meta). Prints JSON {"match": bool, "differences": [...]} and exits 0 either way.
"""
import io
import json
import sys
import zlib

import pydicom
from pydicom.filereader import read_dataset
from pydicom.uid import UID

received_path, ts_uid, original_path = sys.argv[1:4]
ts = UID(ts_uid)
raw = open(received_path, "rb").read()
if ts == "1.2.840.10008.1.2.1.99":
    raw = zlib.decompress(raw, -zlib.MAX_WBITS)
    ts = UID("1.2.840.10008.1.2.1")
received = read_dataset(io.BytesIO(raw), ts.is_implicit_VR, ts.is_little_endian)
original = pydicom.dcmread(original_path)

differences = []
for keyword in ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientName",
                "PatientID", "Modality", "InstanceNumber", "Rows", "Columns", "BitsAllocated"]:
    if str(received.get(keyword)) != str(original.get(keyword)):
        differences.append(keyword)
pixels_received = received.get("PixelData")
pixels_original = original.get("PixelData")
if pixels_received is None or pixels_original is None or bytes(pixels_received) != bytes(pixels_original):
    differences.append("PixelData")
print(json.dumps({"match": not differences, "differences": differences}))
