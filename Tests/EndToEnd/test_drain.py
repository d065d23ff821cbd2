"""Draining the way orchestrators stop tasks: ECS sends SIGTERM and SIGKILLs after `stopTimeout` (30 s by
default), Kubernetes after `terminationGracePeriodSeconds`. Senders keep associations open between studies;
such an idle association must not hold the shutdown: on SIGTERM it gets an A-ABORT at once (an acceptor
cannot request a release, PS3.8 §7.2) and the process exits 0 as soon as nothing is in flight."""
import os
import signal
import time

from pynetdicom import AE

from conftest import Service, free_port, service_env

VERIFICATION = "1.2.840.10008.1.1"


def test_sigterm_with_an_idle_association_exits_at_once_with_code_0(binary, s3_settings, tmp_path):
    data_dir = str(tmp_path / "data")
    scp_port = free_port()
    env = service_env(s3_settings, None, data_dir, SCP_PORT=str(scp_port),
                      DICOM_INGEST_SHUTDOWN_GRACE_SECONDS="25")
    service = Service(binary, env, str(tmp_path), str(tmp_path / "service.log")).start()
    ae = AE(ae_title="DRAINSCU")
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", scp_port, ae_title="STORESCP")
    try:
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        started = time.monotonic()
        service.proc.send_signal(signal.SIGTERM)
        code = service.proc.wait(timeout=20)
        seconds = time.monotonic() - started
        print(f"exit {code} after {seconds:.2f} s with an idle association open (grace 25 s)")
        assert code == 0, service.log_text()
        # Far below the 25 s grace period: the idle association did not hold the shutdown.
        assert seconds < 5, f"exit took {seconds:.1f} s:\n{service.log_text()}"
        deadline = time.monotonic() + 5
        while assoc.is_established and time.monotonic() < deadline:
            time.sleep(0.05)
        assert assoc.is_aborted, "the association was not aborted"
    finally:
        if assoc.is_established:
            assoc.abort()
        service.stop()
    log = service.log_text()
    assert "listener stopping" in log, log
