"""Listener changes made over REST take effect live in the running binary."""
import socket
import subprocess
import time
import uuid

from conftest import ADMIN_TOKEN, READ_TOKEN, free_port, wait_for

ECHOSCU = "/usr/bin/echoscu"


def echo(port, called="STORESCP"):
    result = subprocess.run([ECHOSCU, "-to", "5", "-aec", called, "127.0.0.1", str(port)],
                            capture_output=True, text=True, timeout=30)
    return result.returncode == 0


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_post_patch_disable_delete_are_live(service):
    port = free_port()
    name = "live-" + uuid.uuid4().hex[:8]
    started = time.monotonic()
    status, created, headers = service.request("POST", "/v1/listeners", {
        "name": name, "port": port, "bindAddress": "127.0.0.1",
        "storage": {"backend": "filesystem", "path": service.cwd + "/live", "gzip": False}}, expect=201)
    assert headers.get("Location") == f"/v1/listeners/{created['id']}"
    assert created["state"] == "running", created
    assert echo(port), "echoscu failed right after POST"
    assert time.monotonic() - started < 5

    new_port = free_port()
    status, patched, _ = service.request("PATCH", f"/v1/listeners/{created['id']}", {"port": new_port},
                                         content_type="application/merge-patch+json", expect=200)
    assert patched["port"] == new_port and patched["state"] == "running"
    assert echo(new_port)
    wait_for(lambda: not port_open(port), timeout=5, what="old port closed after PATCH")

    status, patched, _ = service.request("PATCH", f"/v1/listeners/{created['id']}",
                                         {"requireCalledAETitle": True, "aeTitle": "LIVEAE"},
                                         content_type="application/merge-patch+json", expect=200)
    assert not echo(new_port, called="OTHER"), "called AE rule not applied to new associations"
    assert echo(new_port, called="LIVEAE")

    status, patched, _ = service.request("PATCH", f"/v1/listeners/{created['id']}", {"enabled": False},
                                         content_type="application/merge-patch+json", expect=200)
    assert patched["state"] == "stopped"
    wait_for(lambda: not port_open(new_port), timeout=5, what="port closed after enabled=false")

    service.request("PATCH", f"/v1/listeners/{created['id']}", {"enabled": True},
                    content_type="application/merge-patch+json", expect=200)
    assert echo(new_port, called="LIVEAE")

    service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)
    wait_for(lambda: not port_open(new_port), timeout=5, what="port closed after DELETE")
    service.request("GET", f"/v1/listeners/{created['id']}", expect=404)


def test_port_in_use_elsewhere_gives_failed_with_reason(service):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        status, created, _ = service.request("POST", "/v1/listeners", {
            "name": "busy-" + uuid.uuid4().hex[:8], "port": port, "bindAddress": "127.0.0.1",
            "storage": {"backend": "filesystem", "path": service.cwd + "/busy"}}, expect=201)
        listener = wait_for(lambda: (lambda l: l if l["state"] == "failed" else None)(
            service.request("GET", f"/v1/listeners/{created['id']}")[1]), timeout=10, what="state failed")
        assert listener["error"] and "in use" in listener["error"].lower(), listener
        service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)
    finally:
        blocker.close()


def test_conflicts_and_auth(service):
    port = free_port()
    name = "dup-" + uuid.uuid4().hex[:8]
    body = {"name": name, "port": port, "bindAddress": "127.0.0.1",
            "storage": {"backend": "filesystem", "path": service.cwd + "/dup"}}
    status, created, _ = service.request("POST", "/v1/listeners", body, expect=201)
    status, problem, headers = service.request("POST", "/v1/listeners", dict(body, port=free_port()), expect=409)
    assert headers["Content-Type"].startswith("application/problem+json")
    status, problem, _ = service.request("POST", "/v1/listeners", dict(body, name=name + "x"), expect=409)
    status, problem, _ = service.request("POST", "/v1/listeners", dict(body, name="Bad Name!", port=free_port()), expect=400)
    assert any(e["field"] == "name" for e in problem["errors"]), problem
    service.request("POST", "/v1/listeners", dict(body, name=name + "y"), token=READ_TOKEN, expect=403)
    status, _, headers = service.request("GET", "/v1/listeners", token=None, expect=401)
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")
    service.request("DELETE", f"/v1/listeners/{created['id']}", expect=204)
