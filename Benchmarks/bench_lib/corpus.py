"""Deterministic benchmark corpora written with pydicom (never committed).

Three kinds:
  ct        N x 512x512 16-bit CT slices (~0.5 MB), several studies and series, realistic headers.
  mr-small  N x small 16-bit MR images (~40 KB).
  big       N x multi-frame 16-bit grayscale secondary capture (~150 MB each), written frame by frame so
            that generating it never holds more than one frame in memory.

The same parameters always give byte-identical files (UIDs and pixels come from seeded generators), and a
corpus folder whose manifest matches the parameters is reused instead of regenerated.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MF_GRAYSCALE_WORD_SC = "1.2.840.10008.5.1.4.1.1.7.3"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's registered root, as generate_uid uses

MANIFEST_VERSION = 3


@dataclass(frozen=True)
class CorpusSpec:
    kind: str  # "ct" | "mr-small" | "big"
    count: int
    rows: int
    columns: int
    frames: int = 1  # big only
    studies: int = 1
    series_per_study: int = 1

    @property
    def pixel_bytes(self) -> int:
        return self.rows * self.columns * 2 * self.frames


def ct_spec(count: int) -> CorpusSpec:
    return CorpusSpec("ct", count, 512, 512, studies=max(1, min(4, count // 50)), series_per_study=3)


def mr_spec(count: int) -> CorpusSpec:
    # 144 x 144 x 2 bytes = 41 KB of pixels + ~2 KB of header.
    return CorpusSpec("mr-small", count, 144, 144, studies=max(1, min(5, count // 100)), series_per_study=4)


def big_spec(count: int, megabytes: int) -> CorpusSpec:
    frame = 512 * 512 * 2
    frames = max(1, round(megabytes * 1_000_000 / frame))
    return CorpusSpec("big", count, 512, 512, frames=frames, studies=1, series_per_study=1)


def uid(*parts: object) -> str:
    """A deterministic UID under pydicom's root from the given parts (<= 64 characters)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    number = str(int.from_bytes(digest[:16], "big"))
    return (UID_ROOT + number)[:64].rstrip(".")


@dataclass
class Corpus:
    spec: CorpusSpec
    directory: Path
    files: list[Path]
    total_bytes: int

    @property
    def name(self) -> str:
        return self.spec.kind

    def groups(self, n: int) -> list[list[Path]]:
        """Split the file list into n contiguous groups (one per association), none empty."""
        n = max(1, min(n, len(self.files)))
        size, extra = divmod(len(self.files), n)
        out, start = [], 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            out.append(self.files[start:end])
            start = end
        return out


def _base_dataset(spec: CorpusSpec, index: int) -> tuple[Dataset, FileMetaDataset]:
    per_study = max(1, -(-spec.count // spec.studies))
    study = index // per_study
    within = index % per_study
    per_series = max(1, -(-per_study // spec.series_per_study))
    series = within // per_series
    number = within % per_series + 1

    sop_class = {"ct": CT_IMAGE_STORAGE, "mr-small": MR_IMAGE_STORAGE, "big": MF_GRAYSCALE_WORD_SC}[spec.kind]
    sop_instance = uid(spec.kind, spec.rows, spec.frames, "instance", index)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"] if spec.kind == "ct" else ["ORIGINAL", "PRIMARY"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = f"2024{1 + study % 12:02d}{1 + study % 28:02d}"
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.StudyTime = f"{8 + study % 10:02d}3000"
    ds.SeriesTime = f"{8 + study % 10:02d}{31 + series % 28:02d}00"
    ds.ContentTime = ds.SeriesTime
    ds.AccessionNumber = f"ACC{study:07d}"
    ds.Modality = {"ct": "CT", "mr-small": "MR", "big": "OT"}[spec.kind]
    ds.Manufacturer = "BENCH"
    ds.InstitutionName = "Benchmark Hospital"
    ds.ReferringPhysicianName = "Doe^Referring"
    ds.StationName = "BENCH01"
    ds.StudyDescription = f"{ds.Modality} benchmark study {study}"
    ds.SeriesDescription = f"series {series}"
    ds.ManufacturerModelName = "Synthetic"
    ds.PatientName = f"Bench^Patient{study:03d}"
    ds.PatientID = f"PID{study:06d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "054Y"
    ds.StudyInstanceUID = uid(spec.kind, spec.rows, spec.frames, "study", study)
    ds.SeriesInstanceUID = uid(spec.kind, spec.rows, spec.frames, "series", study, series)
    ds.StudyID = str(study + 1)
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = number
    ds.FrameOfReferenceUID = uid(spec.kind, spec.rows, spec.frames, "frame", study)
    ds.PatientPosition = "HFS"
    if spec.kind in ("ct", "mr-small"):
        ds.SliceThickness = "1.25" if spec.kind == "ct" else "4.0"
        ds.ImagePositionPatient = ["-250.0", "-250.0", f"{-number * 1.25:.2f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.SliceLocation = f"{-number * 1.25:.2f}"
        ds.PixelSpacing = ["0.976562", "0.976562"]
    if spec.kind == "ct":
        ds.KVP = "120"
        ds.XRayTubeCurrent = 250
        ds.ConvolutionKernel = "STANDARD"
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = uid(spec.kind, "scout", study)
        ds.ReferencedImageSequence = Sequence([ref])
    if spec.kind == "mr-small":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.MagneticFieldStrength = "1.5"
        ds.EchoTime = "15"
        ds.RepetitionTime = "500"
    if spec.kind == "big":
        ds.NumberOfFrames = spec.frames
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = "33.3"
    # A private block, as most real headers carry one.
    block = ds.private_block(0x0011, "BENCH PRIVATE", create=True)
    block.add_new(0x01, "LO", f"bench-{index}")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = spec.rows
    ds.Columns = spec.columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    return ds, meta


def _phantom(rows: int, columns: int) -> np.ndarray:
    y, x = np.ogrid[:rows, :columns]
    cy, cx = rows / 2, columns / 2
    body = ((y - cy) / (rows * 0.42)) ** 2 + ((x - cx) / (columns * 0.36)) ** 2 <= 1.0
    organ = ((y - cy * 0.9) / (rows * 0.12)) ** 2 + ((x - cx * 1.2) / (columns * 0.1)) ** 2 <= 1.0
    img = np.full((rows, columns), 24, dtype=np.float32)  # air (-1000 HU) is noisy too
    img[body] = 1040
    img[organ] = 1100
    return img


def _pixels(base: np.ndarray, seed: int) -> bytes:
    """A noisy phantom slice: compresses roughly like real CT (gzip ~ 1.5-2.5x)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 14.0, size=base.shape).astype(np.float32)
    img = np.clip(base + noise, 0, 4095).astype("<u2")
    return img.tobytes()


def _write_small(spec: CorpusSpec, index: int, path: Path, base: np.ndarray) -> None:
    ds, meta = _base_dataset(spec, index)
    ds.PixelData = _pixels(base, index)
    ds["PixelData"].VR = "OW"
    ds.file_meta = meta
    dcmwrite(path, ds, enforce_file_format=True)


def _write_big(spec: CorpusSpec, index: int, path: Path, base: np.ndarray) -> None:
    """Header with pydicom, then the Pixel Data element written frame by frame."""
    ds, meta = _base_dataset(spec, index)
    ds.file_meta = meta
    with open(path, "wb") as fh:
        dcmwrite(fh, ds, enforce_file_format=True)
        length = spec.pixel_bytes
        fh.write(struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\x00\x00" + struct.pack("<I", length))
        for frame in range(spec.frames):
            fh.write(_pixels(base, 1_000_000 * (index + 1) + frame))


def ensure(spec: CorpusSpec, root: Path, log=print) -> Corpus:
    """Generate (or reuse) the corpus for spec under root/<kind>-<count>-..."""
    directory = root / f"{spec.kind}-{spec.count}x{spec.rows}x{spec.columns}x{spec.frames}"
    manifest_path = directory / "manifest.json"
    wanted = {"version": MANIFEST_VERSION, "spec": asdict(spec)}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            files = [directory / f for f in manifest["files"]]
            if all(f.exists() for f in files):
                return Corpus(spec, directory, files, manifest["total_bytes"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    log(f"generating corpus {directory.name} ...")
    base = _phantom(spec.rows, spec.columns)
    files = []
    for index in range(spec.count):
        path = directory / f"{index:06d}.dcm"
        if spec.kind == "big":
            _write_big(spec, index, path, base)
        else:
            _write_small(spec, index, path, base)
        files.append(path)
    total = sum(f.stat().st_size for f in files)
    manifest_path.write_text(json.dumps({**wanted, "files": [f.name for f in files], "total_bytes": total}))
    return Corpus(spec, directory, files, total)


if __name__ == "__main__":  # quick self-check: python3 corpus.py DIR
    import sys

    import pydicom

    root = Path(sys.argv[1])
    for s in (ct_spec(3), mr_spec(3), big_spec(1, 5)):
        c = ensure(s, root)
        for f in c.files:
            d = pydicom.dcmread(f)
            assert len(d.PixelData) == s.pixel_bytes, f
        print(c.name, len(c.files), c.total_bytes, os.path.getsize(c.files[0]))
