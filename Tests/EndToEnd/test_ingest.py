"""Durable C-STORE into Part10 + JSON objects with catalog rows, checked by independent tools."""
import concurrent.futures
import hashlib
import os
import subprocess
import uuid
import warnings

import psycopg
import pydicom
import pytest
from pynetdicom import AE, StoragePresentationContexts, build_context
from pynetdicom.sop_class import Verification

import checks
import corpus
import rawscu
from conftest import READ_TOKEN, free_port

STORESCU = "/usr/bin/storescu"
ECHOSCU = "/usr/bin/echoscu"


def sop_uid(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def corpus_files(corpus_dir):
    return sorted(os.path.join(corpus_dir, f) for f in os.listdir(corpus_dir) if f.endswith(".dcm"))


def s3_listener(service, bucket, **storage):
    port = free_port()
    body = {
        "name": "e2e-" + uuid.uuid4().hex[:10],
        "port": port,
        "bindAddress": "127.0.0.1",
        "storage": dict({"backend": "s3", "bucket": bucket}, **storage),
    }
    return service.create_listener(**body)


# storescu proposes one transfer syntax family per run: the files are sent grouped by their syntax.
PROPOSAL = {
    "1.2.840.10008.1.2": "-xi", "1.2.840.10008.1.2.1": "-xe", "1.2.840.10008.1.2.2": "-xb",
    "1.2.840.10008.1.2.1.99": "-xd", "1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.51": "-xx",
    "1.2.840.10008.1.2.4.70": "-xs", "1.2.840.10008.1.2.4.80": "-xt", "1.2.840.10008.1.2.4.81": "-xu",
    "1.2.840.10008.1.2.4.90": "-xv", "1.2.840.10008.1.2.4.91": "-xw", "1.2.840.10008.1.2.5": "-xr",
    "1.2.840.10008.1.2.4.100": "-xm", "1.2.840.10008.1.2.4.102": "-xn", "1.2.840.10008.1.2.4.107": "-x4",
}
# DCMTK 3.6.7 has no proposal option for HTJ2K: those files go through pynetdicom and the exact sender only.
NO_STORESCU_OPTION = {"1.2.840.10008.1.2.4.201"}


def transfer_syntax(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID


def storescu(port, paths, calling="E2ESCU", called="STORESCP", extra=()):
    """Sends every file with DCMTK storescu, one association per transfer syntax family. Returns the
    list of (returncode, stderr) and asserts every file was stored."""
    env = dict(os.environ, TCP_NODELAY="1")
    groups = {}
    for path in paths:
        ts = transfer_syntax(path)
        if ts in NO_STORESCU_OPTION:
            continue
        assert ts in PROPOSAL, f"no storescu proposal option for {ts} ({path})"
        groups.setdefault(PROPOSAL[ts], []).append(path)
    for option, group in sorted(groups.items()):
        result = subprocess.run([STORESCU, "-R", "-nh", option, "-aet", calling, "-aec", called, *extra,
                                 "127.0.0.1", str(port), *group],
                                capture_output=True, text=True, timeout=600, env=env)
        assert result.returncode == 0 and "Store Failed" not in result.stderr \
            and "Store SCU Failed" not in result.stderr, f"storescu {option}: {result.stderr[-4000:]}"


def test_echoscu(service, bucket):
    listener = s3_listener(service, bucket)
    result = subprocess.run([ECHOSCU, "-aet", "E2ESCU", "-aec", "STORESCP", "127.0.0.1", str(listener["port"])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_storescu_corpus_to_s3_with_gzip_and_metadata(service, bucket, s3, corpus_dir, database_url):
    listener = s3_listener(service, bucket, gzip=True, createMetadata=True)
    files = [f for f in corpus_files(corpus_dir) if transfer_syntax(f) not in NO_STORESCU_OPTION]
    storescu(listener["port"], files)

    with psycopg.connect(database_url) as conn:
        for path in files:
            uid = sop_uid(path)
            stored, content_type, encoding = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
            assert content_type == "application/dicom"
            assert encoding == "gzip"
            ds = checks.check_part10(stored, path, calling_ae="E2ESCU", called_ae="STORESCP")
            metadata, json_type, json_encoding = checks.read_object(s3, bucket, f"METADATA/{uid}.json")
            assert json_type == "application/dicom+json"
            assert json_encoding == "gzip"
            checks.check_metadata(metadata, ds, corpus.unconvertible(path))

            status, instance, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)
            assert instance["sopInstanceUID"] == uid
            assert instance["objectUri"] == f"s3://{bucket}/DICOM/{uid}.dcm"
            assert instance["metadataUri"] == f"s3://{bucket}/METADATA/{uid}.json"
            assert instance["sizeBytes"] == len(stored)
            assert instance["sha256"] == hashlib.sha256(stored).hexdigest()
            assert instance["callingAETitle"] == "E2ESCU"
            assert instance["listenerId"] == listener["id"]
            assert instance["transferSyntaxUID"] == ds.file_meta.TransferSyntaxUID
            assert instance["receiveCount"] >= 1

            row = conn.execute("SELECT count(*) FROM instances WHERE sop_instance_uid = %s", (uid,)).fetchone()
            assert row[0] == 1, f"no catalog row for {uid}"


def test_data_set_bytes_stored_exactly_as_sent(service, bucket, s3, corpus_dir):
    """Every file's data set bytes, sent verbatim, come back byte-identical after the File Meta."""
    listener = s3_listener(service, bucket, gzip=True, createMetadata=True)
    for path in corpus_files(corpus_dir):
        status, comment = rawscu.store_exact(listener["port"], path)
        assert status == corpus.expected_status(path), f"{os.path.basename(path)}: status {status:#06x} {comment}"
        uid = sop_uid(path)
        stored, _, _ = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
        checks.check_part10(stored, path, calling_ae="RAWSCU", called_ae="STORESCP", exact=True)


def test_pynetdicom_four_concurrent_associations(service, bucket, s3, corpus_dir):
    listener = s3_listener(service, bucket, gzip=False, createMetadata=False)
    files = corpus_files(corpus_dir)
    groups = [files[i::4] for i in range(4)]

    def send(group):
        ae = AE(ae_title="PYNETDICOM")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            datasets = [pydicom.dcmread(p) for p in group]
        contexts = {}
        for ds in datasets:
            contexts.setdefault(ds.SOPClassUID, set()).add(ds.file_meta.TransferSyntaxUID)
        for sop_class, syntaxes in contexts.items():
            for ts in syntaxes:
                ae.add_requested_context(sop_class, [ts])
        assoc = ae.associate("127.0.0.1", listener["port"], ae_title="STORESCP")
        assert assoc.is_established
        statuses = []
        try:
            for path, ds in zip(group, datasets):
                status = assoc.send_c_store(ds)
                statuses.append((os.path.basename(path), status.Status if status else None, corpus.expected_status(path)))
        finally:
            assoc.release()
        return statuses

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(send, groups))
    assert all(s == expected for statuses in results for _, s, expected in statuses), results
    for path in files:
        uid = sop_uid(path)
        stored, _, encoding = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
        assert encoding is None
        checks.check_part10(stored, path, calling_ae="PYNETDICOM", called_ae="STORESCP")


def test_multiframe_over_100_mb(service, bucket, s3, tmp_path):
    path = corpus.build_multiframe(str(tmp_path))
    assert os.path.getsize(path) > 100 * 1024 * 1024
    listener = s3_listener(service, bucket, gzip=False, createMetadata=True)
    status, comment = rawscu.store_exact(listener["port"], path)
    assert status == 0, f"status {status:#06x} {comment}"
    uid = sop_uid(path)
    stored, _, _ = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
    header, dataset = corpus.split_part10(stored)
    assert hashlib.sha256(dataset).digest() == hashlib.sha256(corpus.dataset_bytes(path)).digest()
    metadata, _, _ = checks.read_object(s3, bucket, f"METADATA/{uid}.json")
    assert b"7FE00010" not in metadata or b"InlineBinary" not in metadata
    status, instance, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN, expect=200)
    assert instance["sizeBytes"] == len(stored)
