"""Builds the end-to-end corpus with pydicom: a varied set of real files (every transfer syntax family,
character sets, nested and private sequences) re-identified with fresh, deterministic SOP Instance UIDs,
plus synthetic files, and (separately) one multiframe instance over 100 MB."""
import glob
import hashlib
import os
import warnings

import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PYDICOM_DATA = os.path.join(os.path.dirname(pydicom.__file__), "data")
SKIP = {
    "MR_truncated.dcm", "rtplan_truncated.dcm",  # truncated on purpose: senders refuse them, and so do we
}
# Files pydicom itself cannot fully read, stored as sent all the same: answered Warning B007 (stored, the
# data set does not match its SOP Class), their JSON keeps the listed elements without Value.
# badVR.dcm: (0028,0008) Number of Frames is IS "1A", which no integer conversion accepts.
STORED_WITH_WARNING = {"badVR.dcm": ["00280008"]}


def expected_status(path):
    """The C-STORE status dicom-ingest answers for a corpus file."""
    return 0xB007 if os.path.basename(path) in STORED_WITH_WARNING else 0x0000


def unconvertible(path):
    """DICOM JSON keys of the file's elements written without Value (their value cannot be converted)."""
    return STORED_WITH_WARNING.get(os.path.basename(path), [])
ROOT = "1.2.826.0.1.3680043.8.498."


_salt = ""


def _uid(seed):
    return generate_uid(prefix=ROOT, entropy_srcs=[_salt, seed] if _salt else [seed])


def build(out_dir, salt=""):
    """Writes the corpus to out_dir; returns the list of paths. A `salt` gives the corpus UIDs of its own."""
    global _salt
    _salt = salt
    paths = []
    candidates = sorted(glob.glob(os.path.join(PYDICOM_DATA, "test_files", "*.dcm"))
                        + glob.glob(os.path.join(PYDICOM_DATA, "charset_files", "*.dcm")))
    for src in candidates:
        name = os.path.basename(src)
        if name in SKIP:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(src)
            except Exception:
                continue
        meta = getattr(ds, "file_meta", None)
        if not meta or "TransferSyntaxUID" not in meta or "SOPClassUID" not in ds:
            continue
        new_uid = _uid("e2e-" + name)
        ds.SOPInstanceUID = new_uid
        meta.MediaStorageSOPInstanceUID = new_uid
        if "StudyInstanceUID" not in ds:
            ds.StudyInstanceUID = _uid("study-" + name)
        if "SeriesInstanceUID" not in ds:
            ds.SeriesInstanceUID = _uid("series-" + name)
        dst = os.path.join(out_dir, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds.save_as(dst, enforce_file_format=True)
            except Exception:
                if os.path.exists(dst):
                    os.remove(dst)
                continue
            # Keep only files that pydicom reads back whole (one pydicom test file is deliberately odd).
            if "SOPInstanceUID" not in pydicom.dcmread(dst, stop_before_pixels=True):
                os.remove(dst)
                continue
        paths.append(dst)
    paths.append(_synthetic_private_nested(out_dir))
    paths.extend(_synthetic_encapsulated(out_dir))
    return paths


# Video and HTJ2K transfer syntaxes: stored as sent, never decoded, so a synthetic encapsulated stream
# (an offset table item and one fragment of codec-shaped bytes) is a faithful test of the receiver.
ENCAPSULATED_SYNTAXES = {
    "mpeg2": "1.2.840.10008.1.2.4.100",   # MPEG2 Main Profile / Main Level
    "h264": "1.2.840.10008.1.2.4.102",    # MPEG-4 AVC/H.264 High Profile / Level 4.1
    "hevc": "1.2.840.10008.1.2.4.107",    # HEVC/H.265 Main Profile / Level 5.1
    "htj2k": "1.2.840.10008.1.2.4.201",   # High-Throughput JPEG 2000 Lossless Only
}


def _synthetic_encapsulated(out_dir):
    from pydicom.encaps import encapsulate
    paths = []
    for name, ts in ENCAPSULATED_SYNTAXES.items():
        ds = Dataset()
        video = name != "htj2k"
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.4.1" if video else "1.2.840.10008.5.1.4.1.1.7"
        ds.SOPInstanceUID = _uid("synthetic-" + name)
        ds.StudyInstanceUID = _uid("synthetic-encapsulated-study")
        ds.SeriesInstanceUID = _uid("synthetic-series-" + name)
        ds.Modality = "XC" if video else "OT"
        ds.PatientName = "Encapsulated^" + name.upper()
        ds.PatientID = "ENC-" + name
        ds.Rows = 64
        ds.Columns = 64
        ds.SamplesPerPixel = 3 if video else 1
        ds.PhotometricInterpretation = "YBR_PARTIAL_420" if video else "MONOCHROME2"
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.NumberOfFrames = 2 if video else 1
        if video:
            ds.PlanarConfiguration = 0
        stream = hashlib.shake_256(name.encode()).digest(4000)
        ds.PixelData = encapsulate([stream])
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ts
        fds = FileDataset(None, ds, file_meta=meta, preamble=b"\0" * 128)
        path = os.path.join(out_dir, f"synthetic_{name}.dcm")
        fds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _synthetic_private_nested(out_dir):
    """Explicit VR LE: private blocks, nested undefined-length sequences, many VRs."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    ds.SOPInstanceUID = _uid("synthetic-private-nested")
    ds.StudyInstanceUID = _uid("synthetic-study")
    ds.SeriesInstanceUID = _uid("synthetic-series")
    ds.Modality = "OT"
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN-001"
    ds.StudyDate = "20240102"
    ds.AccessionNumber = "ACC42"
    ds.InstanceNumber = 7
    ds.SeriesNumber = 3
    ds.add_new(0x00091010, "LO", "DICOM-INGEST TEST")  # private creator
    ds.add_new(0x00091011, "SH", "private value")
    inner = Dataset()
    inner.CodeValue = "121"
    inner.CodingSchemeDesignator = "DCM"
    inner.add_new(0x00091010, "LO", "DICOM-INGEST TEST")
    inner.add_new(0x00091012, "UL", 12345)
    deeper = Dataset()
    deeper.CodeMeaning = "deep"
    inner.ConceptNameCodeSequence = Sequence([deeper])
    ds.ReferencedImageSequence = Sequence([inner, Dataset()])
    ds.add_new(0x00091013, "SQ", Sequence([inner]))
    ds.Rows = 4
    ds.Columns = 4
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(32))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    fds = FileDataset(None, ds, file_meta=meta, preamble=b"\0" * 128)
    path = os.path.join(out_dir, "synthetic_private_nested.dcm")
    for elem in fds.iterall():
        pass
    fds.save_as(path, enforce_file_format=True)
    # Undefined-length sequences: pydicom writes defined lengths; flip via is_undefined_length.
    ds2 = pydicom.dcmread(path)
    ds2.ReferencedImageSequence.is_undefined_length = True
    ds2[0x00091013].is_undefined_length = True
    for item in ds2.ReferencedImageSequence:
        item.is_undefined_length_sequence_item = True
    ds2.save_as(path, enforce_file_format=True)
    return path


def build_multiframe(out_dir, frames=200, rows=512, columns=512, name="multiframe_big.dcm"):
    """One Multi-frame Grayscale Word Secondary Capture instance: frames x rows x columns x 16 bit
    (200 x 512 x 512 x 2 = 100 MiB of pixel data), written without holding two copies."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.SOPInstanceUID = _uid(f"multiframe-{frames}-{rows}-{columns}")
    ds.StudyInstanceUID = _uid("multiframe-study")
    ds.SeriesInstanceUID = _uid("multiframe-series")
    ds.Modality = "OT"
    ds.PatientName = "Big^Multiframe"
    ds.PatientID = "BIG-1"
    ds.NumberOfFrames = frames
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    frame = hashlib.shake_256(b"frame").digest(rows * columns * 2)
    ds.PixelData = frame * frames
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    fds = FileDataset(None, ds, file_meta=meta, preamble=b"\0" * 128)
    path = os.path.join(out_dir, name)
    fds.save_as(path, enforce_file_format=True)
    return path


def dataset_bytes(path):
    """The bytes after the File Meta Information group of a Part10 file."""
    with open(path, "rb") as f:
        data = f.read()
    return data[_dataset_offset(data):]


def _dataset_offset(data):
    assert data[128:132] == b"DICM", "not a Part10 file"
    # (0002,0000) UL group length, explicit VR LE: tag(4) VR(2) len(2) value(4)
    assert data[132:136] == b"\x02\x00\x00\x00"
    group_length = int.from_bytes(data[140:144], "little")
    return 144 + group_length


def split_part10(data):
    offset = _dataset_offset(data)
    return data[:offset], data[offset:]
