"""`ganzoo demo` left running: idle and slow clients, hang-ups, size caps and the Host allowlist."""

import json
import os
import socket
import struct
import threading
import time

import pytest
from conftest import ROOT

EXAMPLE = ROOT / "exports" / "examples" / "cgan-digits.onnx"


@pytest.fixture
def serve():
    """``serve(**make_server options)`` → a started demo server, stopped after the test."""
    from ganzoo.demo import make_server

    started = []

    def start(**options):
        srv = make_server(str(EXAMPLE), port=0, **options)
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        started.append((srv, thread))
        return srv

    yield start
    for srv, thread in started:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def exchange(srv, data: bytes, timeout: float = 30) -> tuple[int, dict]:
    """Send raw bytes, read the answer to its end: (status, JSON body or {})."""
    with socket.create_connection(srv.server_address[:2], timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if b"application/json" in head else {}


def get(srv, path: str = "/api/info", host: str | None = "") -> tuple[int, dict]:
    host = f"127.0.0.1:{srv.server_address[1]}" if host == "" else host
    header = "" if host is None else f"Host: {host}\r\n"
    return exchange(srv, f"GET {path} HTTP/1.1\r\n{header}Connection: close\r\n\r\n".encode("latin-1"))


def wait_for(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def threads() -> int:
    """Threads of this process, counted by the kernel where it can say (C threads too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def test_idle_sockets_take_no_threads_and_normal_requests_are_served_meanwhile(serve):
    before = threads()
    srv = serve(timeout=60, workers=4)
    idle = [socket.create_connection(srv.server_address[:2], timeout=10) for _ in range(200)]
    try:
        assert wait_for(lambda: srv.open_connections >= 200), srv.open_connections  # all accepted
        status, info = get(srv)
        assert status == 200 and info["model"] == "cdcgan"
        assert exchange(srv, f"GET /api/sample?n=4 HTTP/1.0\r\nHost: localhost:{srv.server_address[1]}\r\n\r\n"
                        .encode())[0] == 200
        assert threads() <= before + 1 + 4  # the socket thread and the workers, whatever the clients do
        assert srv.open_connections >= 200  # and the idle ones were kept, not dropped to make the count
    finally:
        for sock in idle:
            sock.close()


def test_idle_and_trickling_clients_are_dropped_after_the_timeout(serve):
    srv = serve(timeout=0.5)
    started = time.monotonic()
    with socket.create_connection(srv.server_address[:2], timeout=10) as sock:
        assert sock.recv(1) == b""  # closed by the server, without an answer
    assert 0.4 <= time.monotonic() - started < 5
    started = time.monotonic()
    with socket.create_connection(srv.server_address[:2], timeout=0.05) as sock:
        closed = False
        for byte in b"GET /api/info HTTP/1.1\r\nX-Slow: " + b"a" * 200:  # one byte each 50 ms, never a whole request
            try:
                sock.send(bytes([byte]))
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
            if closed:
                break
    assert closed and time.monotonic() - started < 5  # the trickle does not extend the deadline
    assert wait_for(lambda: srv.open_connections == 0)
    assert get(srv)[0] == 200


def test_clients_that_hang_up_early_leave_no_traceback(serve, capfd):
    srv = serve(timeout=2)
    port = srv.server_address[1]
    with socket.create_connection(srv.server_address[:2]) as sock:  # connects and goes
        pass
    with socket.create_connection(srv.server_address[:2]) as sock:  # half a request
        sock.sendall(b"GET /api/sample?n=16 HTTP/1.1\r\nHost: local")
    for _ in range(3):  # asks for a large answer and resets the connection before it is written
        sock = socket.create_connection(srv.server_address[:2])
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(f"GET /api/walk?n=64&frames=48&label=all HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
        time.sleep(0.2)  # read by the server, now with a worker
        sock.close()
    assert wait_for(lambda: srv.open_connections == 0, 60)  # every one was answered or dropped
    assert get(srv)[0] == 200
    out, err = capfd.readouterr()
    assert err == "" and out == ""


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST", "127.0.0.2",
                                  "localhost.:{port}"])
def test_loopback_hosts_are_answered(serve, host):
    srv = serve()
    assert get(srv, host=host.format(port=srv.server_address[1]))[0] == 200


@pytest.mark.parametrize("host,message", [
    ("evil.example:{port}", "not a name of this demo"),
    ("localhost.evil.example:{port}", "not a name of this demo"),
    ("127.0.0.1.nip.io:{port}", "not a name of this demo"),
    ("192.168.1.7:{port}", "not a name of this demo"),
    ("localhost:abc", "not a name of this demo"),
    ("[::1", "not a name of this demo"),
    (None, "no Host header"),
])
def test_other_hosts_are_refused_against_dns_rebinding(serve, host, message):
    srv = serve()
    status, body = get(srv, host=None if host is None else host.format(port=srv.server_address[1]))
    assert status == 421 and message in body["error"] and "localhost, 127.0.0.1, [::1]" in body["error"]
    assert "\n" not in body["error"]
    assert get(srv)[0] == 200


def test_the_host_it_listens_on_is_allowed_too():
    from ganzoo.webserver import HostAllowlist

    named = HostAllowlist("demo.lan")
    assert named.problem("demo.lan:8000") is None and named.problem("DEMO.LAN") is None
    assert "demo.lan" in named.problem("other.lan:8000")
    address = HostAllowlist("192.168.1.7")
    assert address.problem("192.168.1.7:8000") is None and address.problem("[::1]:8000") is None
    assert address.problem("192.168.1.8:8000") is not None and address.problem("evil.example") is not None
    everywhere = HostAllowlist("0.0.0.0")  # the whole network: its addresses, never a stranger's name
    assert everywhere.problem("10.1.2.3:8000") is None and everywhere.problem("[fe80::1]:8000") is None
    assert everywhere.problem(f"{socket.gethostname()}:8000") is None
    assert everywhere.problem("evil.example:8000") is not None


@pytest.mark.parametrize("request_bytes,status,message", [
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 414, "request line is longer than 16384 bytes"),
    (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"b" * 20000 + b"\r\n\r\n", 431, "longer than 16384 bytes"),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n", 413, "body is larger than"),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n", 411, "Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -5\r\n\r\n", 400, "Content-Length must be"),
    (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc", 405, "GET requests only"),
    (b"HELLO\r\n\r\n", 400, "Bad request"),
    (b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", 505, "Invalid HTTP version"),
    (b"PUT / HTTP/1.1\r\nHost: localhost\r\n\r\n", 501, "Unsupported method"),
])
def test_oversized_and_malformed_requests_get_one_line_refusals(serve, request_bytes, status, message):
    srv = serve()
    got, body = exchange(srv, request_bytes)
    assert got == status and message in body["error"] and "\n" not in body["error"]
    assert get(srv)[0] == 200


def test_when_full_the_oldest_idle_connection_makes_room(serve):
    srv = serve(timeout=60, max_connections=20)
    idle = [socket.create_connection(srv.server_address[:2], timeout=10) for _ in range(20)]
    try:
        assert wait_for(lambda: srv.open_connections == 20)
        assert get(srv)[0] == 200
        assert idle[0].recv(1) == b""  # the oldest was closed for it
        assert srv.open_connections <= 20
    finally:
        for sock in idle:
            sock.close()


def test_a_burst_of_connections_waits_in_the_listen_queue():
    from ganzoo.demo import make_server

    srv = make_server(str(EXAMPLE), port=0)  # not serving yet: every connection waits in the backlog
    socks = []
    try:
        for _ in range(120):  # a backlog of 5 drops the SYNs past the 6th: those connects time out
            socks.append(socket.create_connection(srv.server_address[:2], timeout=0.5))
        thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        assert wait_for(lambda: srv.open_connections == 120)
        assert get(srv)[0] == 200
    finally:
        for sock in socks:
            sock.close()
        srv.shutdown()
        srv.server_close()
