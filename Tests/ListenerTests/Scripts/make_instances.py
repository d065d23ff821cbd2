"""Writes DICOM Part 10 test instances with pydicom and prints a JSON manifest.

usage: make_instances.py OUTDIR COUNT [--pixel-bytes N] [--transfer-syntax UID] [--sop-class UID]
Each instance is a small CT image with fresh UIDs; --pixel-bytes sets the size of Pixel Data
(rounded to whole 512x512 16-bit frames when larger than one frame).
"""
import argparse
import json
import os

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid, ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

parser = argparse.ArgumentParser()
parser.add_argument("outdir")
parser.add_argument("count", type=int)
parser.add_argument("--pixel-bytes", type=int, default=64 * 64 * 2)
parser.add_argument("--transfer-syntax", default=ExplicitVRLittleEndian)
parser.add_argument("--sop-class", default=CT_IMAGE_STORAGE)
args = parser.parse_args()

os.makedirs(args.outdir, exist_ok=True)
study = generate_uid()
series = generate_uid()
manifest = []
for index in range(args.count):
    ds = Dataset()
    ds.SOPClassUID = args.sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientName = "Test^Listener"
    ds.PatientID = "LISTENER-1"
    ds.Modality = "CT"
    ds.InstanceNumber = index + 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    frame = 512 * 512 * 2
    if args.pixel_bytes > frame:
        frames = max(1, args.pixel_bytes // frame)
        ds.Rows, ds.Columns = 512, 512
        ds.NumberOfFrames = frames
        ds.PixelData = bytes(frames * frame)
    else:
        side = max(2, int((args.pixel_bytes // 2) ** 0.5))
        ds.Rows, ds.Columns = side, side
        ds.PixelData = bytes((index + i) % 251 for i in range(side * side * 2))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = args.transfer_syntax
    path = os.path.join(args.outdir, f"instance{index:04d}.dcm")
    ds.save_as(path, enforce_file_format=True)
    manifest.append({"path": path, "sopInstanceUID": ds.SOPInstanceUID, "sopClassUID": ds.SOPClassUID,
                     "transferSyntax": args.transfer_syntax})
print(json.dumps(manifest))
