"""The README's DCMTK commands, run as they are written there: each command line is taken from README.md's
shell blocks and run through bash against a listener of the running service, with only its placeholders
(the port 11112 and the /path/to/... folders) replaced. Every file they are meant to send must land as
stored: its object in S3, its catalog row, and the transfer syntax of the file."""
import io
import os
import re
import shutil
import subprocess
import uuid
import warnings

import pydicom
import pytest
from pydicom.uid import generate_uid

import checks
import corpus
from conftest import READ_TOKEN, free_port

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
DCMTK = ("/usr/bin/echoscu", "/usr/bin/storescu", "/usr/bin/dcmsend")
# DCMTK 3.6.7 does not know these (HTJ2K): the README says dcmsend skips them.
UNKNOWN_TO_DCMTK_367 = {"1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
UNCOMPRESSED = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


def readme_commands():
    """Every DCMTK command line of the README's ```sh blocks (continuation lines joined)."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith(DCMTK):
                commands.append(line)
    return commands


def readme_command(program, target):
    """The README's one command line that runs `program` against `target` (a port or folder placeholder)."""
    found = [c for c in readme_commands() if c.startswith(program) and target in c]
    assert len(found) == 1, f"README.md should have exactly one {program} command with {target}: {found}"
    return found[0]


def run_as_written(command, port, folders):
    """Runs the README's command line with bash, its placeholders replaced: 127.0.0.1 11112 by the
    listener's port, each /path/to/... folder by a real one."""
    line = command.replace("127.0.0.1 11112", f"127.0.0.1 {port}")
    for placeholder, path in folders.items():
        line = line.replace(placeholder, path)
    assert "/path/to/" not in line, f"unreplaced placeholder in {line}"
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=600)


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def transfer_syntax(path):
    return str(_read(path).file_meta.TransferSyntaxUID)


@pytest.fixture
def mixed_folder(tmp_path_factory):
    """The end-to-end corpus (every transfer syntax family: uncompressed, deflate, JPEG, JPEG-LS,
    JPEG 2000, RLE, video, HTJ2K) with SOP Instance UIDs of its own, in a folder with a subfolder so the
    recursion is exercised. One per test: each test sends to a listener of its own, and a UID stored
    through one listener is refused on another (0111)."""
    root = tmp_path_factory.mktemp("readme-mixed")
    build = tmp_path_factory.mktemp("readme-build")
    os.makedirs(root / "series-2")
    for i, path in enumerate(sorted(corpus.build(str(build)))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(prefix=corpus.ROOT)
            target = root / ("series-2" if i % 2 else ".") / os.path.basename(path)
            ds.save_as(str(target), enforce_file_format=True)
    files = sorted(str(p) for p in root.rglob("*.dcm"))
    syntaxes = {transfer_syntax(f) for f in files}
    # The folder is mixed: the README's claim is only tested when these are in it.
    for ts in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90", RLE_LOSSLESS,
               "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"):
        assert ts in syntaxes, f"corpus lacks {ts}"
    return str(root), files


@pytest.fixture
def listener(service, bucket):
    """A listener like the walkthrough's default one: AE title STORESCP, objects stored without gzip."""
    return service.create_listener(name="readme-" + uuid.uuid4().hex[:8], port=free_port(), bindAddress="127.0.0.1",
                                   aeTitle="STORESCP",
                                   storage={"backend": "s3", "bucket": bucket, "gzip": False})


def assert_landed_as_stored(service, s3, bucket, listener, path):
    uid = str(_read(path).SOPInstanceUID)
    status, instance, _ = service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)
    assert status == 200, f"{os.path.basename(path)} ({transfer_syntax(path)}) did not land: {status} {instance}"
    assert instance["listenerId"] == listener["id"]
    assert instance["objectUri"] == f"s3://{bucket}/DICOM/{uid}.dcm"
    stored, _, _ = checks.read_object(s3, bucket, f"DICOM/{uid}.dcm")
    sent = transfer_syntax(path)
    if sent in UNCOMPRESSED:
        # An uncompressed file travels in the uncompressed syntax the receiver picks among those the
        # sender proposes; the sender converts it (its bytes are then the sender's, not the file's).
        assert instance["transferSyntaxUID"] in UNCOMPRESSED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored_ds = pydicom.dcmread(io.BytesIO(stored), stop_before_pixels=True)
        original = _read(path)
        assert stored_ds.SOPInstanceUID == original.SOPInstanceUID
        assert stored_ds.SOPClassUID == original.SOPClassUID
        if instance["transferSyntaxUID"] == sent:
            checks.check_part10(stored, path, calling_ae="MYSCU", called_ae="STORESCP")
    else:
        # Compressed (and deflated) files: stored in their own transfer syntax, every element equal.
        assert instance["transferSyntaxUID"] == sent
        checks.check_part10(stored, path, calling_ae="MYSCU", called_ae="STORESCP")


def test_readme_echoscu(service, listener):
    command = readme_command("/usr/bin/echoscu", "127.0.0.1 11112")
    result = run_as_written(command, listener["port"], {})
    assert result.returncode == 0, result.stderr
    assert "C-ECHO ok" in result.stdout


def test_readme_dcmsend_sends_a_mixed_folder_as_stored(service, s3, bucket, listener, mixed_folder):
    folder, files = mixed_folder
    command = readme_command("/usr/bin/dcmsend", "/path/to/dicom/folder")
    result = run_as_written(command, listener["port"], {"/path/to/dicom/folder": folder})
    assert result.returncode == 0, result.stderr[-4000:]

    sendable = [f for f in files if transfer_syntax(f) not in UNKNOWN_TO_DCMTK_367]
    skipped = [f for f in files if transfer_syntax(f) in UNKNOWN_TO_DCMTK_367]
    assert len(sendable) > 60, sendable
    for path in sendable:
        assert_landed_as_stored(service, s3, bucket, listener, path)
    # What the README says about HTJ2K and DCMTK 3.6.7: skipped, named on stderr.
    for path in skipped:
        assert f"{path}: Unknown Transfer Syntax" in result.stderr
        uid = str(_read(path).SOPInstanceUID)
        assert service.request("GET", f"/v1/instances/{uid}", token=READ_TOKEN)[0] == 404


def test_readme_storescu_sends_an_rle_folder(service, s3, bucket, listener, mixed_folder, tmp_path):
    _, files = mixed_folder
    rle = [f for f in files if transfer_syntax(f) == RLE_LOSSLESS]
    uncompressed = [f for f in files if transfer_syntax(f) in UNCOMPRESSED][:5]
    assert len(rle) >= 3, rle
    folder = tmp_path / "rle"
    os.makedirs(folder / "more")
    for i, path in enumerate(rle + uncompressed):
        shutil.copy(path, folder / ("more" if i % 2 else ".") / os.path.basename(path))
    command = readme_command("/usr/bin/storescu", "/path/to/rle/folder")
    result = run_as_written(command, listener["port"], {"/path/to/rle/folder": str(folder)})
    assert result.returncode == 0 and "Store Failed" not in result.stderr, result.stderr[-4000:]
    for path in rle + uncompressed:
        assert_landed_as_stored(service, s3, bucket, listener, path)


def test_storescu_of_the_old_walkthrough_does_not_send_compressed_files(service, listener, mixed_folder):
    """Why the walkthrough changed: `storescu -R +sd +r` fails at the first compressed file of a mixed
    folder (it proposes no compressed transfer syntax and cannot convert them)."""
    folder, files = mixed_folder
    result = subprocess.run(["/usr/bin/storescu", "-R", "+sd", "+r", "-aet", "MYSCU", "-aec", "STORESCP",
                             "127.0.0.1", str(listener["port"]), folder],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "Store Failed" in result.stderr or "Store SCU Failed" in result.stderr
