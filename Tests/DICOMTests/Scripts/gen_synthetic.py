#!/usr/bin/env python3
"""Writes synthetic DICOM files with pydicom for the codec tests: every transfer syntax we read
(implicit VR LE, explicit VR LE, explicit VR BE, deflated, encapsulated), every VR, nested
undefined-length sequences, private blocks, character sets, and a few real-world defects built byte by
byte (UN with undefined length, odd lengths, an implicit element in an explicit data set, a truncated
value). Deterministic: the same files every run.

Usage: gen_synthetic.py OUT_DIR
"""
import os
import struct
import sys
import warnings
from io import BytesIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom import uid

warnings.simplefilter("ignore")

SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"


def base_dataset(index):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = SOP_CLASS
    ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{index}"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1000"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.2000.{index % 3}"
    ds.Modality = "OT"
    ds.PatientName = "Müller^Jürgen=^=^"
    ds.PatientID = f"PID{index}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.StudyDate = "20240131"
    ds.StudyTime = "101010.123"
    ds.StudyDescription = "Synthetic study"
    ds.AccessionNumber = "ACC1"
    ds.SeriesNumber = 7
    ds.InstanceNumber = index
    ds.SeriesDescription = "Série"
    return ds


def every_vr(ds):
    USED.clear()
    ds.RetrieveAETitle = ["AE1", " AE2 "]  # AE
    ds.PatientAge = "042Y"  # AS
    ds.FrameIncrementPointer = [0x00181063, 0x00181065]  # AT
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]  # CS
    ds.ContentDate = "20240101"  # DA
    ds.PixelSpacing = ["0.5", "1e-3"]  # DS
    ds.AcquisitionDateTime = "20240101101010.5+0100"  # DT
    ds.add_new(0x00189087, "FD", [1.5, -2.25e10])  # FD
    ds.add_new(0x00089459, "FL", 0.1)  # FL
    ds.add_new(0x00200012, "IS", ["1", "-2"])  # IS (AcquisitionNumber is IS; several values here)
    ds.InstitutionName = "Klinik Süd"  # LO
    ds.AdditionalPatientHistory = "Line one\r\nLine two \\ with backslash"  # LT
    ds.add_new(0x00420011, "OB", b"\x01\x02\x03\x04")  # OB (Encapsulated Document)
    ds.add_new(tag_for("OD"), "OD", struct.pack("<2d", 1.0, 2.0))
    ds.add_new(tag_for("OF"), "OF", struct.pack("<2f", 1.0, 2.0))
    ds.add_new(tag_for("OL"), "OL", struct.pack("<2L", 1, 2))
    ds.add_new(tag_for("OV"), "OV", struct.pack("<2Q", 1, 2))
    ds.add_new(tag_for("OW"), "OW", struct.pack("<4H", 1, 2, 3, 4))
    ds.ReferringPhysicianName = "Doe^John"  # PN
    ds.add_new(0x00081060, "PN", ["Roe^Jane^^Dr", "Poe^Edgar"])  # PN, two values
    ds.StationName = "STATION"  # SH
    ds.add_new(tag_for("SL", multi=True), "SL", [-1, 2])
    ds.add_new(tag_for("SS", multi=True), "SS", [-3, 4])
    ds.DerivationDescription = "ST text  "  # ST
    ds.add_new(tag_for("SV", multi=True), "SV", [-(2**40), 5])
    ds.ContentTime = "101010"  # TM
    ds.add_new(tag_for("UC", multi=True), "UC", ["unlimited", "characters"])
    ds.add_new(0x00081150, "UI", "1.2.3.4")  # UI
    ds.add_new(tag_for("UL", multi=True), "UL", [7, 4294967295])
    ds.add_new(0x00081190, "UR", "http://example.com/wado ")  # UR
    ds.add_new(tag_for("US", multi=True), "US", [5, 65535])
    ds.add_new(tag_for("UV", multi=True), "UV", [2**63 + 1, 3])
    ds.add_new(tag_for("SQ"), "SQ", Sequence())  # empty SQ
    ds.add_new(0x0040A160, "UT", "Unlimited text \\ stays one value")  # UT
    ds.add_new(0x00400280, "ST", "")  # empty value
    ds.add_new(0x00420012, "LO", "application/pdf")
    return ds


USED = set()


def tag_for(vr, multi=False):
    """The first current (non-retired) dictionary tag with this VR, so pydicom knows it in implicit VR."""
    from pydicom._dicom_dict import DicomDictionary
    for tag in sorted(DicomDictionary):
        entry_vr, vm, _name, retired, _keyword = DicomDictionary[tag]
        if entry_vr != vr or retired or tag in USED or (tag >> 16) in (0x0000, 0x0002, 0x0004, 0x0008, 0x0010, 0x0020, 0x7FE0):
            continue
        if multi and vm == "1":
            continue
        USED.add(tag)
        return tag
    raise KeyError(vr)


def nested(depth, leaf):
    item = Dataset()
    item.CodeValue = f"L{depth}"
    item.CodeMeaning = "Ärger"
    if depth > 0:
        item.ContentSequence = Sequence([nested(depth - 1, leaf), nested(0, leaf)])
    else:
        item.TextValue = leaf
    return item


def private_block(ds):
    block = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    block.add_new(0x01, "LO", "Full fidelity")
    block.add_new(0x02, "SH", "SUITE")
    block.add_new(0x17, "LT", "private text")
    other = ds.private_block(0x0029, "ACME 1.0", create=True)
    other.add_new(0x10, "OB", b"\x00" * 10)
    other.add_new(0x11, "UL", 42)
    other.add_new(0x13, "UN", b"\x00\x01\x02\x03")  # UN
    other.add_new(0x12, "SQ", Sequence([nested(1, "private leaf")]))
    ds.add_new(0x00290090, "LO", "second creator")  # creator value in a second slot


def image(ds, rows=4, cols=4, bits=16):
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1
    ds.SmallestImagePixelValue = -5
    ds.LargestImagePixelValue = 900
    ds.PixelData = bytes(range(rows * cols * bits // 8 % 256)) * 1 if bits == 8 else struct.pack(f"<{rows * cols}h", *range(rows * cols))


def save(ds, path, transfer_syntax):
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def write_raw(path, transfer_syntax, body, index):
    """A Part10 file whose data set is `body` bytes as given."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SOP_CLASS
    meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{index}"
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    buf = BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    from pydicom.filebase import DicomFileLike
    fp = DicomFileLike(buf)
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    write_file_meta_info(fp, meta, enforce_standard=True)
    with open(path, "wb") as f:
        f.write(buf.getvalue() + body)


def explicit_le(tag, vr, value):
    group, element = tag >> 16, tag & 0xFFFF
    if vr in ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"):
        length = 0xFFFFFFFF if value is None else len(value)
        return struct.pack("<HH2sHL", group, element, vr.encode(), 0, length) + (value or b"")
    return struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value


def implicit_le(tag, value, length=None):
    group, element = tag >> 16, tag & 0xFFFF
    return struct.pack("<HHL", group, element, len(value) if length is None else length) + value


ITEM = struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    syntaxes = {
        "implicit_le": uid.ImplicitVRLittleEndian,
        "explicit_le": uid.ExplicitVRLittleEndian,
        "explicit_be": uid.ExplicitVRBigEndian,
        "deflated": uid.DeflatedExplicitVRLittleEndian,
    }
    index = 1
    for name, ts in syntaxes.items():
        ds = base_dataset(index)
        every_vr(ds)
        ds.ContentSequence = Sequence([nested(4, "deep leaf"), nested(0, "flat")])
        ds.ContentSequence.is_undefined_length = True
        for item in ds.ContentSequence:
            item.is_undefined_length_sequence_item = True
        private_block(ds)
        ds.add_new(0x00420011, "OB", bytes(range(256)) * 8)  # 2 KiB OB: bulk
        image(ds)
        save(ds, os.path.join(out, f"vr_{name}.dcm"), ts)
        index += 1

    # Encapsulated Pixel Data with a basic offset table and two fragments per frame.
    ds = base_dataset(index)
    image(ds, bits=8)
    ds.PixelRepresentation = 0
    del ds.SmallestImagePixelValue
    del ds.LargestImagePixelValue
    ds.NumberOfFrames = 2
    ds.PixelData = encapsulate([b"\xFF\xD8frame-one\xFF\xD9", b"\xFF\xD8frame-two!\xFF\xD9"], fragments_per_frame=2, has_bot=True)
    ds["PixelData"].is_undefined_length = True
    save(ds, os.path.join(out, "encapsulated_jpeg.dcm"), uid.JPEGBaseline8Bit)
    index += 1

    # Character sets (single-byte ISO 8859 family, UTF-8, GB18030/GBK).
    charsets = {
        "ISO_IR 100": ("latin_1", "Buc^Jérôme"), "ISO_IR 101": ("iso8859_2", "Wałęsa^Lech"),
        "ISO_IR 109": ("iso8859_3", "Ħaġar^Ġużeppi"), "ISO_IR 110": ("iso8859_4", "Ķēniņš^Ūna"),
        "ISO_IR 144": ("iso8859_5", "Люкceмбypг"), "ISO_IR 127": ("iso8859_6", "قباني^لنزار"),
        "ISO_IR 126": ("iso8859_7", "Διονυσιος"), "ISO_IR 138": ("iso8859_8", "שרון^דבורה"),
        "ISO_IR 148": ("iso8859_9", "Çelik^Şükrü"), "ISO_IR 166": ("iso8859_11", "บุญ^สม"),
        "ISO_IR 203": ("iso8859_15", "Œuvre^€uro"), "ISO_IR 192": ("utf_8", "Wang^XiaoDong=王^小東"),
        "GB18030": ("gb18030", "Wang^XiaoDong=王^小东"), "GBK": ("gbk", "Wang^XiaoDong=王^小东"),
    }
    for term, (codec, name_text) in charsets.items():
        ds = base_dataset(index)
        ds.SpecificCharacterSet = term
        ds.PatientName = name_text
        ds.StudyDescription = name_text.split("=")[0].replace("^", " ")
        ds.InstitutionName = [name_text.split("=")[0].split("^")[0], "second"]
        save(ds, os.path.join(out, f"charset_{term.replace(' ', '_')}.dcm"), uid.ExplicitVRLittleEndian)
        index += 1

    # Defects built byte by byte (explicit VR little endian unless named).
    head = (explicit_le(0x00080005, "CS", b"ISO_IR 100")
            + explicit_le(0x00080016, "UI", SOP_CLASS.encode() + b"\x00")
            + explicit_le(0x00080060, "CS", b"OT"))
    uid_bytes = lambda i: f"1.2.826.0.1.3680043.8.498.{i}".encode().ljust(28, b"\x00")

    # UN with undefined length holding an implicit VR LE sequence (a private SQ as some gateways send it).
    un_seq = (struct.pack("<HH2sHL", 0x0019, 0x1010, b"UN", 0, 0xFFFFFFFF)
              + ITEM + implicit_le(0x00080100, b"CODE") + implicit_le(0x00080104, b"Meaning ") + ITEM_END + SEQ_END)
    body = (head + explicit_le(0x00080018, "UI", uid_bytes(index)) + explicit_le(0x00190010, "LO", b"ACME")
            + un_seq + explicit_le(0x00100010, "PN", b"Un^Defined"))
    write_raw(os.path.join(out, "defect_un_undefined_length.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # A known public tag sent as UN (pydicom reads it with its dictionary VR).
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index)) + explicit_le(0x00100010, "UN", b"Known^AsUN") \
        + explicit_le(0x00200013, "UN", b"12") + explicit_le(0x00280010, "UN", struct.pack("<H", 64))
    write_raw(os.path.join(out, "defect_known_as_un.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # Odd-length values.
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index)) + explicit_le(0x00100010, "PN", b"Odd^Len") \
        + explicit_le(0x00100020, "LO", b"ODD")
    write_raw(os.path.join(out, "defect_odd_length.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # An implicit VR element in the middle of an explicit VR data set.
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index)) + implicit_le(0x00100010, b"Implicit^Inside") \
        + explicit_le(0x00100020, "LO", b"ID42")
    write_raw(os.path.join(out, "defect_implicit_element.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # Explicit VR data set declared as implicit VR LE in the File Meta (pydicom switches).
    write_raw(os.path.join(out, "defect_wrong_ts_explicit.dcm"), uid.ImplicitVRLittleEndian,
              head + explicit_le(0x00080018, "UI", uid_bytes(index)) + explicit_le(0x00100010, "PN", b"Wrong^TS"), index)
    index += 1

    # Value cut short at the end of the data set (pydicom keeps what is there).
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index)) + explicit_le(0x00100010, "PN", b"Cut^Short")
    body += struct.pack("<HH2sH", 0x0010, 0x1000, b"LO", 40) + b"only ten b"
    write_raw(os.path.join(out, "defect_truncated_value.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # Undefined-length sequence that never ends (pydicom fails: we must report a typed error).
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index)) \
        + struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + ITEM + explicit_le(0x0040A160, "UT", b"never closed")
    write_raw(os.path.join(out, "defect_missing_delimiters.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1

    # Defined-length items inside a defined-length sequence, implicit VR, nested twice.
    inner_item = implicit_le(0x00080100, b"IN") + implicit_le(0x00080104, b"Inner ")
    inner_seq = implicit_le(0x0040A730, implicit_le(0xFFFEE000, inner_item))
    outer_item = implicit_le(0x0040A010, b"CONTAINS") + inner_seq
    outer_seq = implicit_le(0x0040A730, implicit_le(0xFFFEE000, outer_item))
    body = implicit_le(0x00080005, b"ISO_IR 100") + implicit_le(0x00080016, SOP_CLASS.encode() + b"\x00") \
        + implicit_le(0x00080018, uid_bytes(index)) + outer_seq + implicit_le(0x00091010, b"no creator")
    write_raw(os.path.join(out, "defined_length_nested_implicit.dcm"), uid.ImplicitVRLittleEndian, body, index)
    index += 1

    # Deep nesting: 40 levels of undefined-length sequences.
    body = head + explicit_le(0x00080018, "UI", uid_bytes(index))
    depth = 40
    body += (struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + ITEM) * depth
    body += explicit_le(0x0040A160, "UT", b"bottom")
    body += (ITEM_END + SEQ_END) * depth
    write_raw(os.path.join(out, "deep_nesting.dcm"), uid.ExplicitVRLittleEndian, body, index)
    index += 1


if __name__ == "__main__":
    main()
