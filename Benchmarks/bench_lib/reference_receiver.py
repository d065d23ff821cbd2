"""The reference design, rebuilt for the benchmark: a pynetdicom C-STORE SCP that acknowledges at once and
uploads to S3 later.

What it does, as the Python design this project replaces does it:
  * the C-STORE handler builds the Part10 file in memory (preamble + write_file_meta_info + the raw data set
    bytes pynetdicom has already buffered in full) and answers 0x0000 immediately;
  * a ThreadPoolExecutor (S3_UPLOAD_WORKERS, default 10) gzips it (GZIP_LEVEL, default 5) and PUTs it, then
    decodes the data set with pydicom and PUTs its JSON (to_json_dict, gzip too) when CREATE_METADATA;
  * keys follow the seed layout: <DICOM_PREFIX>/[<StudyInstanceUID>/]<SOPInstanceUID>.dcm and
    <METADATA_PREFIX>/[<StudyInstanceUID>/]<SOPInstanceUID>.json.

The benchmark therefore measures it until the last object has landed in the bucket, not until the last
C-STORE response. Bulk data (Pixel Data) is left out of the JSON (a BulkDataURI to the .dcm object), which is
the cheaper choice for this design and matches what dicom-ingest writes.

Environment (seed names): SCP_PORT, AE_TITLE, RECEIVE_BUCKET, DICOM_PREFIX, METADATA_PREFIX,
ADD_STUDYUID_PREFIX, GZIP_FILES, GZIP_LEVEL, CREATE_METADATA, S3_UPLOAD_WORKERS, BOTO_MAX_POOL_CONNECTIONS,
MAXIMUM_ASSOCIATIONS, MAXIMUM_PDU_SIZE, AWS_* (AWS_ENDPOINT_URL_S3 for the emulator).
Stops on SIGTERM/SIGINT after the pending uploads.
"""
from __future__ import annotations

import gzip
import io
import json
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from pydicom import dcmread
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


PORT = int(os.environ.get("SCP_PORT", "11112"))
AE_TITLE = os.environ.get("AE_TITLE", "REFERENCE")
BUCKET = os.environ.get("RECEIVE_BUCKET") or os.environ["RECEIVE_BUCKET_NAME"]
DICOM_PREFIX = os.environ.get("DICOM_PREFIX", "")
METADATA_PREFIX = os.environ.get("METADATA_PREFIX", "")
ADD_STUDYUID_PREFIX = env_bool("ADD_STUDYUID_PREFIX", True)
GZIP_FILES = env_bool("GZIP_FILES", True)
GZIP_LEVEL = int(os.environ.get("GZIP_LEVEL", "5"))
CREATE_METADATA = env_bool("CREATE_METADATA", True)
WORKERS = int(os.environ.get("S3_UPLOAD_WORKERS", "10"))
POOL = int(os.environ.get("BOTO_MAX_POOL_CONNECTIONS", str(max(10, WORKERS))))
MAX_ASSOCIATIONS = int(os.environ.get("MAXIMUM_ASSOCIATIONS", "10"))
MAX_PDU = os.environ.get("MAXIMUM_PDU_SIZE")  # unset: pynetdicom's default (16382)

log = logging.getLogger("reference")
s3 = boto3.client("s3", config=Config(max_pool_connections=POOL, retries={"max_attempts": 5}))
uploads = ThreadPoolExecutor(max_workers=WORKERS)
failures = 0
failures_lock = threading.Lock()


def key(prefix: str, study: str, sop: str, ext: str) -> str:
    parts = [p for p in (prefix.strip("/"), study if ADD_STUDYUID_PREFIX else "", f"{sop}.{ext}") if p]
    return "/".join(parts)


def put(object_key: str, body: bytes, content_type: str) -> None:
    extra = {}
    if GZIP_FILES:
        body = gzip.compress(body, compresslevel=GZIP_LEVEL)
        extra["ContentEncoding"] = "gzip"
    s3.put_object(Bucket=BUCKET, Key=object_key, Body=body, ContentType=content_type, **extra)


def upload(part10: bytes, sop: str) -> None:
    global failures
    try:
        ds = dcmread(io.BytesIO(part10), stop_before_pixels=False)
        study = str(ds.get("StudyInstanceUID", ""))
        dcm_key = key(DICOM_PREFIX, study, sop, "dcm")
        put(dcm_key, part10, "application/dicom")
        if CREATE_METADATA:
            meta = ds.to_json_dict(bulk_data_threshold=1024,
                                   bulk_data_element_handler=lambda _el: dcm_key)
            put(key(METADATA_PREFIX, study, sop, "json"), json.dumps(meta).encode(), "application/dicom+json")
    except Exception:  # the design logs and moves on: the sender was already told "success"
        log.exception("upload of %s failed", sop)
        with failures_lock:
            failures += 1


def handle_store(event):
    buf = io.BytesIO()
    buf.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buf, event.file_meta, enforce_standard=True)
    buf.write(event.request.DataSet.getvalue())
    uploads.submit(upload, buf.getvalue(), str(event.request.AffectedSOPInstanceUID))
    return 0x0000


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING"), stream=sys.stderr)
    ae = AE(ae_title=AE_TITLE)
    ae.maximum_associations = MAX_ASSOCIATIONS
    if MAX_PDU:
        ae.maximum_pdu_size = int(MAX_PDU)
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", PORT), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, handle_store)])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    uploads.shutdown(wait=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
