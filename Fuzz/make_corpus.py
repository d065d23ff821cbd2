#!/usr/bin/env python3
"""Writes the seed corpus of the association fuzzer (Fuzz/corpus/association/, committed).

Each seed is the byte stream a peer sends on one connection. The association PDUs are the captures in
Tests/DICOMTests/Fixtures/ul_pdus (DCMTK echoscu/storescu, pynetdicom); C-STORE streams carry a small data
set encoded with pydicom in every transfer syntax family the listener accepts (implicit/explicit VR LE,
explicit VR BE, deflated, and encapsulated pixel data for the compressed syntaxes). Deterministic: the same
files on every run. Run from the repository root: python3 Fuzz/make_corpus.py
"""
import os
import struct
import zlib

from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests/DICOMTests/Fixtures/ul_pdus")
OUT = os.path.join(ROOT, "Fuzz/corpus/association")
DATASET_OUT = os.path.join(ROOT, "Fuzz/corpus/dataset")

CT = "1.2.840.10008.5.1.4.1.1.2"
RELEASE_RQ = bytes([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])

SYNTAXES = {
    "implicit-le": "1.2.840.10008.1.2",
    "explicit-le": "1.2.840.10008.1.2.1",
    "explicit-be": "1.2.840.10008.1.2.2",
    "deflated": "1.2.840.10008.1.2.1.99",
    "jpeg-baseline": "1.2.840.10008.1.2.4.50",
    "jpeg-lossless": "1.2.840.10008.1.2.4.70",
    "jpeg-ls": "1.2.840.10008.1.2.4.80",
    "jpeg-2000": "1.2.840.10008.1.2.4.90",
    "rle": "1.2.840.10008.1.2.5",
    "htj2k": "1.2.840.10008.1.2.4.201",
}
ENCAPSULATED = {"jpeg-baseline", "jpeg-lossless", "jpeg-ls", "jpeg-2000", "rle", "htj2k"}


def fixture(name):
    with open(os.path.join(FIXTURES, name + ".hex")) as f:
        return bytes.fromhex(f.read().strip())


def item(item_type, value):
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def associate_rq(contexts, calling=b"FUZZSCU", called=b"STORESCP", max_pdu=16384):
    """contexts: [(id, abstract syntax, [transfer syntaxes])]"""
    body = struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for cid, abstract, syntaxes in contexts:
        sub = item(0x30, abstract.encode()) + b"".join(item(0x40, ts.encode()) for ts in syntaxes)
        body += item(0x20, bytes([cid, 0, 0, 0]) + sub)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"1.2.826.0.1.3680043.9.3811.2.0.0")
    user += item(0x55, b"FUZZ")
    body += item(0x50, user)
    return struct.pack(">BBI", 0x01, 0, len(body)) + body


def pdata(cid, control, payload):
    pdv = struct.pack(">IB", len(payload) + 2, cid) + bytes([control]) + payload
    return struct.pack(">BBI", 0x04, 0, len(pdv)) + pdv


def command(elements):
    """elements: [(element, bytes)] of group 0000, encoded implicit VR LE with the group length first."""
    body = b"".join(struct.pack("<HHI", 0, e, len(v)) + v for e, v in sorted(elements))
    return struct.pack("<HHI", 0, 0, 4) + struct.pack("<I", len(body)) + body


def ui(uid):
    b = uid.encode()
    return b + b"\0" if len(b) % 2 else b


def us(v):
    return struct.pack("<H", v)


def c_store_rq(sop_class, sop_instance, message_id=1):
    return command([(0x0002, ui(sop_class)), (0x0100, us(0x0001)), (0x0110, us(message_id)),
                    (0x0700, us(0)), (0x0800, us(0x0001)), (0x1000, ui(sop_instance))])


def c_echo_rq(message_id=1):
    return command([(0x0002, ui("1.2.840.10008.1.1")), (0x0100, us(0x0030)), (0x0110, us(message_id)),
                    (0x0800, us(0x0101))])


def dataset(name, ts):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1." + str(len(name))
    ds.StudyDate = "20260101"
    ds.Modality = "CT"
    ds.PatientName = "Fuzz^Seed"
    ds.PatientID = "SEED-" + name
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = [0.0, -1.5, 2.25]
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.4"
    ds.ReferencedImageSequence = Sequence([ref])
    ds.Rows = 4
    ds.Columns = 4
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    pixels = bytes(range(16))
    if name in ENCAPSULATED:
        ds.PixelData = encapsulate([pixels[:8], pixels[8:]])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    else:
        ds.PixelData = pixels
        ds["PixelData"].VR = "OB" if name != "implicit-le" else "OW"
    little = name != "explicit-be"
    implicit = name == "implicit-le"
    buf = DicomBytesIO()
    buf.is_little_endian = little
    buf.is_implicit_VR = implicit
    write_dataset(buf, ds)
    raw = buf.getvalue()
    if name == "deflated":
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = compressor.compress(raw) + compressor.flush()
    return raw


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    # Captured association PDUs, as their peers sent them.
    echo = fixture("dcmtk_echoscu_associate_rq") + fixture("dcmtk_echoscu_p_data_c_echo_rq") + fixture("dcmtk_echoscu_release_rq")
    write(OUT, "dcmtk-echoscu", echo)
    write(OUT, "pynetdicom-echo", fixture("pynetdicom_associate_rq_minimal") + pdata(1, 0x03, c_echo_rq()) + RELEASE_RQ)
    # pynetdicom's C-STORE-RQ command (CT, context 1) split into 32-byte PDUs.
    write(OUT, "pynetdicom-store-max32",
          associate_rq([(1, CT, [SYNTAXES["explicit-le"]])]) + fixture("pynetdicom_c_store_rq_pdus_max32")
          + pdata(1, 0x02, dataset("explicit-le", SYNTAXES["explicit-le"])) + RELEASE_RQ)
    write(OUT, "pynetdicom-two-pdvs", fixture("pynetdicom_associate_rq_full") + fixture("pynetdicom_p_data_two_pdvs"))
    for capture in ("default", "xi", "xd"):
        rq = fixture(f"dcmtk_storescu_{capture}_associate_rq")
        write(OUT, f"dcmtk-storescu-{capture}", rq + pdata(1, 0x03, c_echo_rq()) + RELEASE_RQ)
    for name in ("pynetdicom_abort_user", "pynetdicom_release_rq", "pynetdicom_associate_ac", "pynetdicom_associate_rj_called_ae"):
        write(OUT, "wrong-state-" + name.replace("_", "-"), fixture(name))
    write(OUT, "release-collision", fixture("pynetdicom_associate_rq_minimal") + RELEASE_RQ + RELEASE_RQ + fixture("pynetdicom_release_rp"))

    # One C-STORE per transfer syntax: command in one PDV, data set in two fragments, then an echo and a release.
    for name, ts in SYNTAXES.items():
        data = dataset(name, ts)
        half = len(data) // 2
        stream = associate_rq([(1, CT, [ts]), (3, "1.2.840.10008.1.1", ["1.2.840.10008.1.2"])])
        stream += pdata(1, 0x03, c_store_rq(CT, "1.2.826.0.1.3680043.8.498.1.7"))
        stream += pdata(1, 0x00, data[:half]) + pdata(1, 0x02, data[half:])
        stream += pdata(3, 0x03, c_echo_rq(2)) + RELEASE_RQ
        write(OUT, f"store-{name}", stream)
        # The data set reader's own corpus: selector byte (transfer syntax), chunk size byte, data set.
        selector = {"implicit-le": 0, "explicit-le": 1, "explicit-be": 2, "deflated": 3}.get(name, 1)
        write(DATASET_OUT, f"dataset-{name}", bytes([selector, 31]) + data)
    # A command fragmented over two PDVs, the SOP class of another context, and a C-FIND (unsupported).
    cmd = c_store_rq(CT, "1.2.3.4")
    write(OUT, "store-command-fragments",
          associate_rq([(1, CT, [SYNTAXES["explicit-le"]])]) + pdata(1, 0x01, cmd[:20]) + pdata(1, 0x03, cmd[20:])
          + pdata(1, 0x02, dataset("explicit-le", SYNTAXES["explicit-le"])) + RELEASE_RQ)
    write(OUT, "store-wrong-sop-class",
          associate_rq([(1, "1.2.840.10008.5.1.4.1.1.4", [SYNTAXES["explicit-le"]])])
          + pdata(1, 0x03, c_store_rq(CT, "1.2.3.4")) + pdata(1, 0x02, dataset("explicit-le", "")) + RELEASE_RQ)
    find = command([(0x0002, ui("1.2.840.10008.5.1.4.1.2.2.1")), (0x0100, us(0x0020)), (0x0110, us(1)),
                    (0x0700, us(0)), (0x0800, us(0x0001))])
    write(OUT, "c-find-unsupported",
          associate_rq([(1, "1.2.840.10008.5.1.4.1.2.2.1", ["1.2.840.10008.1.2"]), (3, CT, ["1.2.840.10008.1.2"])])
          + pdata(1, 0x03, find) + pdata(1, 0x02, b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ") + RELEASE_RQ)


if __name__ == "__main__":
    main()
