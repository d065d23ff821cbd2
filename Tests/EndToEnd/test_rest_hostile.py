"""Hostile REST requests against the built binary, over raw sockets on loopback (so nothing normalises them).

Every case must get a clear 4xx — with an application/problem+json body (RFC 9457) whenever a body is
answered — and the service must stay up: GET /healthz answers 200 after each. Limits come from the
contract (openapi.yaml): bodies by Content-Length only, at most 1 MiB (413 before the body is read),
chunked bodies 411, request line or headers over the limits 431.
"""
import json
import socket
import uuid

import pytest

import conftest
from conftest import ADMIN_TOKEN, Service, free_port, report, service_env

MIB = 1 << 20
WAIT_S = 30


def raw_request(port, head, body=b"", read_body=True):
    """Sends `head` (request line and headers, without the final CRLF CRLF) and `body`; returns
    (status, headers, body bytes). The connection is closed afterwards."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as sock:
        try:
            sock.sendall(head + b"\r\n\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything: the answer is still there
        data = b""
        while b"\r\n\r\n" not in data:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"connection closed without a complete response: {data[:200]!r}")
            data += chunk
        head_bytes, rest = data.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while read_body and len(rest) < length:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:length]


def request(port, method, path, body=b"", headers=(), content_type="application/json", token=ADMIN_TOKEN,
            content_length=None):
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}".encode())
    if content_type and (body or content_length is not None):
        lines.append(f"Content-Type: {content_type}".encode())
    if content_length is not False and (body or content_length is not None):
        lines.append(f"Content-Length: {len(body) if content_length is None else content_length}".encode())
    lines += [h if isinstance(h, bytes) else h.encode() for h in headers]
    return raw_request(port, b"\r\n".join(lines), body)


def assert_problem(status, headers, body, expected, field=None):
    """A 4xx with a problem+json body naming `field` (when given)."""
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert status in expected, f"status {status}, expected {expected}: {body[:300]!r}"
    assert 400 <= status < 500
    if body:
        assert headers.get("content-type", "").split(";")[0] == "application/problem+json", headers
        problem = json.loads(body)
        assert problem.get("status") == status, problem
        if field is not None:
            assert field in json.dumps(problem), f"{field} not named in {problem}"


def listener_body(**overrides):
    fields = {"name": "rest-" + uuid.uuid4().hex[:8], "port": free_port(), "bindAddress": "127.0.0.1",
              "storage": {"backend": "filesystem", "path": "hostile-rest", "gzip": False}}
    fields.update(overrides)
    return fields


def padded_to(document, size):
    """`document` as JSON, padded with trailing whitespace to exactly `size` bytes."""
    raw = json.dumps(document).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


CASES = []


def case(function):
    CASES.append(function)
    return function


# Bodies at the limit and just over.

@case
def body_of_exactly_1_mib_is_read_and_validated(port):
    body = padded_to(listener_body(name="x" * (MIB - 200)), MIB)
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400, field="name")


@case
def body_of_1_mib_plus_1_byte(port):
    body = padded_to(listener_body(), MIB + 1)
    assert_problem(*request(port, "POST", "/v1/listeners", body), 413)


@case
def content_length_of_a_terabyte_without_body(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"", content_length=10 ** 12), 413)


@case
def content_length_beyond_int64(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"", content_length="9" * 40), (400, 413))


@case
def negative_content_length(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"{}", content_length=-1), 400)


@case
def two_different_content_lengths(port):
    body = json.dumps(listener_body()).encode()
    assert_problem(*request(port, "POST", "/v1/listeners", body, headers=[f"Content-Length: {len(body) + 5}"]), 400)


@case
def chunked_body(port):
    body = json.dumps(listener_body()).encode()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    assert_problem(*request(port, "POST", "/v1/listeners", chunked, headers=["Transfer-Encoding: chunked"],
                            content_length=False), 411)


@case
def content_length_and_transfer_encoding_together(port):
    body = json.dumps(listener_body()).encode()
    assert_problem(*request(port, "POST", "/v1/listeners", body, headers=["Transfer-Encoding: chunked"]), (400, 411))


# JSON that parsers choke on.

@case
def arrays_nested_100000_deep(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"[" * 100000 + b"]" * 100000), 400)


@case
def objects_nested_50000_deep(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b'{"a":' * 50000 + b"1" + b"}" * 50000), 400)


@case
def nesting_inside_a_valid_field(port):
    body = json.dumps(listener_body()).encode()[:-1] + b', "storage2": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def deep_nesting_in_a_merge_patch(port):
    assert_problem(*request(port, "PATCH", "/v1/listeners/" + str(uuid.uuid4()), b'{"limits":' * 50000 + b"{}" + b"}" * 50000,
                            content_type="application/merge-patch+json"), (400, 404))


@case
def port_of_1e400(port):
    body = json.dumps(listener_body()).encode().replace(b'"port": ', b'"port": 1e400, "x": ', 1)
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def port_of_10000_digits(port):
    body = json.dumps(listener_body()).encode().replace(b'"port": ', b'"port": ' + b"9" * 10000 + b', "x": ', 1)
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def port_as_fraction(port):
    assert_problem(*request(port, "POST", "/v1/listeners", json.dumps(listener_body(port=1024.5)).encode()), 400,
                   field="port")


@case
def max_pdu_size_above_int64(port):
    body = json.dumps(listener_body(limits={"maxPDUSize": 1})).encode().replace(b'"maxPDUSize": 1',
                                                                              b'"maxPDUSize": 18446744073709551617')
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400, field="maxPDUSize")


@case
def invalid_utf8_in_a_string(port):
    body = json.dumps(listener_body(name="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"bad\xff\xfename")
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def overlong_utf8_encoding(port):
    body = json.dumps(listener_body(name="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"a\xc0\xafb")
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def lone_surrogate_escape(port):
    body = json.dumps(listener_body(name="PLACEHOLDER")).encode().replace(b"PLACEHOLDER", b"a\\ud800b")
    assert_problem(*request(port, "POST", "/v1/listeners", body), 400)


@case
def nul_in_an_ae_title(port):
    assert_problem(*request(port, "POST", "/v1/listeners", json.dumps(listener_body(aeTitle="AE\u0000X")).encode()),
                   400, field="aeTitle")


@case
def body_not_json(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"\x00\x01\x02 not json"), 400)


@case
def json_top_level_array(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"[]"), 400)


@case
def empty_body_with_json_type(port):
    assert_problem(*request(port, "POST", "/v1/listeners", b"", content_length=0), 400)


@case
def wrong_content_type(port):
    assert_problem(*request(port, "POST", "/v1/listeners", json.dumps(listener_body()).encode(),
                            content_type="text/plain"), 415)


# Header floods and over-long request lines.

@case
def two_hundred_headers(port):
    assert_problem(*request(port, "GET", "/v1/listeners", headers=[f"X-Flood-{i}: {i}" for i in range(200)]), 431)


@case
def one_header_of_20_kib(port):
    assert_problem(*request(port, "GET", "/v1/listeners", headers=["X-Big: " + "a" * 20 * 1024]), 431)


@case
def headers_totalling_40_kib(port):
    assert_problem(*request(port, "GET", "/v1/listeners", headers=[f"X-Part-{i}: " + "b" * 1000 for i in range(40)]), 431)


@case
def request_line_of_40_kib(port):
    assert_problem(*request(port, "GET", "/v1/studies?cursor=" + "c" * 40 * 1024), (414, 431))


@case
def cursor_of_10_kib(port):
    assert_problem(*request(port, "GET", "/v1/studies?cursor=" + "c" * 10 * 1024), 400, field="cursor")


@case
def limit_of_1e309(port):
    assert_problem(*request(port, "GET", "/v1/studies?limit=1e309"), 400, field="limit")


@case
def invalid_percent_encoding_in_path(port):
    assert_problem(*request(port, "GET", "/v1/instances/%ff%fe"), (400, 404))


@case
def nul_byte_in_a_header_value(port):
    assert_problem(*request(port, "GET", "/v1/listeners", headers=[b"X-Evil: a\x00b"]), 400)


@case
def header_without_colon(port):
    assert_problem(*request(port, "GET", "/v1/listeners", headers=["this is not a header"]), 400)


@case
def authorization_of_16_kib(port):
    assert_problem(*request(port, "GET", "/v1/listeners", token="t" * 16 * 1024), (401, 431))


# ---- Runner -------------------------------------------------------------------------------------

_alive_after = []


@pytest.fixture(scope="module")
def rest_service(binary, s3_settings, tmp_path_factory, request):
    url, admin, name = conftest._new_database()
    data_dir = str(tmp_path_factory.mktemp("rest-hostile"))
    service = Service(binary, service_env(s3_settings, url, data_dir), data_dir, data_dir + "/service.log").start()
    yield service
    service.stop()
    conftest._drop_database(admin, name)
    dead = [n for n, ok in _alive_after if not ok]
    line = f"REST hostile suite: {len(CASES)} cases, {len(_alive_after)} run; " + (
        f"service NOT alive after: {dead}" if dead else "service alive after each")
    report(request, line)


def healthy(service):
    status, _, _ = raw_request(service.http_port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1")
    return status == 200


@pytest.mark.parametrize("rest_case", CASES, ids=[c.__name__ for c in CASES])
def test_rest_hostile(rest_case, rest_service):
    case_error = None
    try:
        rest_case(rest_service.http_port)
    except Exception as exc:  # noqa: BLE001 - reported after the health check
        case_error = exc
    alive = rest_service.proc.poll() is None
    if alive:
        try:
            alive = healthy(rest_service)
        except Exception:  # noqa: BLE001
            alive = False
    _alive_after.append((rest_case.__name__, alive))
    if not alive:
        log = rest_service.log_text()[-4000:]
        if rest_service.proc.poll() is not None:
            rest_service.start()  # the remaining cases still run; this one failed
        raise AssertionError(f"service not alive after {rest_case.__name__}"
                             + (f" (case: {case_error!r})" if case_error else "") + f"\nlog:\n{log}")
    if case_error is not None:
        raise AssertionError(f"{rest_case.__name__}: {case_error!r}") from case_error
