"""A small HTTP server fit to leave running, for ``ganzoo demo`` (standard library only).

``http.server.ThreadingHTTPServer`` gives each connection a thread that waits for the request
as long as the client likes: a thousand idle sockets are a thousand threads, a client that
trickles a byte a minute holds one forever, and one that hangs up mid-answer prints a
traceback. Here one thread owns every socket (``selectors``): it reads requests and writes
answers without blocking, drops a connection whose request is not whole ``timeout`` seconds
after it was accepted (however slowly it trickles) or whose answer is not taken within
``write_timeout``, and refuses request heads and bodies over fixed caps. Only a whole request
reaches one of ``workers`` threads, which answers it in memory; so an idle or slow client costs
a socket and a few bytes, never a thread. At ``max_connections`` the oldest connection still
sending its request makes room for a newcomer. The Host header must name the machine by a
loopback name or address, or by the ``host`` the server was told to listen on, so that a page
elsewhere cannot reach the server through DNS rebinding (its requests carry its own name).
Every connection is closed after one answer (HTTP/1.0), which browsers handle without a cost
worth keeping idle sockets for.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import queue
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

MAX_HEAD = 16 * 1024  # request line and headers together
MAX_BODY = 64 * 1024  # the demo's requests have no body; anything larger is refused unread
BACKLOG = 128
TIMEOUT = 10.0  # seconds from accept to a whole request
WRITE_TIMEOUT = 60.0  # seconds for a client to take its answer (a walk can be megabytes)
WORKERS = 8
LINGER = 2.0  # seconds an answered connection waits for the client to close first
MAX_CONNECTIONS = 4096
WILDCARDS = ("", "0.0.0.0", "::")


class HostAllowlist:
    """The Host headers a server answers: loopback names and addresses, and the name or address
    it listens on. Listening on every interface (``0.0.0.0``, ``::``) also admits any IP address
    and this machine's host name: an address in the Host header cannot be a rebinding attack,
    since a page at an address is then a page of this server."""

    def __init__(self, host: str) -> None:
        bound = _bare(host)
        self.wildcard = bound in WILDCARDS
        self.names = {"localhost"}
        if self.wildcard:
            self.names.add(socket.gethostname().lower().rstrip("."))
        elif bound:
            self.names.add(_address(bound) or bound)
        self.shown = "localhost, 127.0.0.1, [::1]" + ("" if self.wildcard or _is_loopback(bound) or
                                                       bound == "localhost" else f", {host}")
        if self.wildcard:
            self.shown += ", this machine's name or any of its addresses"

    def problem(self, header: str | None) -> str | None:
        """Why ``header`` is refused, in one line naming the fix; None when it is allowed."""
        if header is None or not header.strip():
            return f"the request has no Host header; ask for this demo by one of: {self.shown}"
        name = _host_name(header)
        if name is not None:
            address = _address(name)
            if (address or name) in self.names or _is_loopback(name) or (self.wildcard and address):
                return None
        return (f"Host {header.strip()[:100]!r} is not a name of this demo (refused against DNS rebinding); "
                f"open it by one of: {self.shown}")


def _bare(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def _host_name(header: str) -> str | None:
    """The name or address in a Host header (``name``, ``name:port``, ``[v6]:port``), lower case."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1:]
        if end < 0 or (rest and not (rest[:1] == ":" and rest[1:].isdigit())):
            return None
        return value[1:end] or None
    if value.count(":") > 1:
        return None
    name, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return None
    return name.rstrip(".") or None


def _address(name: str) -> str | None:
    """``name`` written the one way an IP address is, or None when it is not an address."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _is_loopback(name: str) -> bool:
    address = _address(name)
    return address is not None and ipaddress.ip_address(address).is_loopback


class Refusal(Exception):
    """A request refused before it reaches a handler: the status and its one-line message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_answer(status: HTTPStatus, message: str) -> bytes:
    """A whole HTTP answer carrying ``{"error": message}``, as the handlers write their own."""
    body = json.dumps({"error": message}).encode()
    head = (f"HTTP/1.0 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + body


def request_size(data: bytes | bytearray, max_body: int = MAX_BODY) -> int | None:
    """The length of the whole request at the start of ``data`` (head and body), None while it
    is incomplete, or Refusal when it breaks a cap: the caps are checked as bytes arrive, so no
    request grows past them in memory. ``max_body``: the largest body (Content-Length) taken."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") if (i := data.find(mark, 0, MAX_HEAD + 4)) >= 0]
    if not ends:
        if len(data) <= MAX_HEAD:
            return None
        if b"\n" not in data[:MAX_HEAD]:
            raise Refusal(HTTPStatus.REQUEST_URI_TOO_LONG, f"the request line is longer than {MAX_HEAD} bytes")
        raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                      f"the request's line and headers are longer than {MAX_HEAD} bytes")
    head = min(ends)
    length, lengths = 0, 0
    for line in bytes(data[:head]).splitlines()[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        if name == b"transfer-encoding":
            raise Refusal(HTTPStatus.LENGTH_REQUIRED, "send a request body with a Content-Length, not chunked")
        if name == b"content-length":
            if not value.isdigit() or len(value) > 18:
                raise Refusal(HTTPStatus.BAD_REQUEST, f"Content-Length must be a byte count, got {value[:40]!r}")
            lengths += 1
            if lengths > 1:  # the server and the handler must not read two different bodies
                raise Refusal(HTTPStatus.BAD_REQUEST, "send one Content-Length header, not several")
            length = int(value)
    if length > max_body:
        if max_body == MAX_BODY:
            raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                          f"the request body is larger than {MAX_BODY} bytes; the demo takes GET requests with no body")
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                      f"the upload is {length:,} bytes, larger than the {max_body:,} bytes "
                      f"({max_body / 1024**2:g} MB) the demo takes; send a smaller image")
    return head + length if len(data) >= head + length else None


class Handler(BaseHTTPRequestHandler):
    """A handler that reads a request already in memory and answers into memory: the server's
    one socket thread does all reading and writing, so a handler never waits on a client."""

    server: WebServer  # type: ignore[assignment]
    request: bytes  # the whole request, read by the server
    protocol_version = "HTTP/1.0"
    default_request_version = "HTTP/1.0"  # so that even a refused request line gets a status line

    def setup(self) -> None:
        self.rfile = io.BytesIO(self.request)
        self.wfile = io.BytesIO()

    def finish(self) -> None:  # the server takes the answer from wfile
        return

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
        return

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        problem = self.server.allowed_hosts.problem(self.headers.get("Host"))
        if problem is not None:
            self.refuse(HTTPStatus.MISDIRECTED_REQUEST, problem)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and headers get the same one-line JSON as every other refusal."""
        status = HTTPStatus(code)
        self.close_connection = True
        self.refuse(status, (message or status.phrase).replace("\n", " "))

    def refuse(self, status: HTTPStatus, message: str) -> None:
        self.answer(status, "application/json", json.dumps({"error": message}).encode())

    def answer(self, status: HTTPStatus, kind: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():  # ASCII, one line each: the caller's
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)


class _Connection:
    __slots__ = ("sock", "address", "data", "deadline", "answer", "state", "queued")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.data = bytearray()
        self.deadline = deadline
        self.answer = memoryview(b"")
        self.state = READING
        self.queued = 0  # bytes of its request body held for a worker


READING, WRITING, DRAINING = "reading", "writing", "draining"  # a connection with a worker is in none


class WebServer:
    """``serve_forever``/``shutdown``/``server_close``/``server_address`` as in ``socketserver``;
    see the module's docstring for what it does differently."""

    def __init__(self, address: tuple[str, int], handler: type[Handler], *, timeout: float = TIMEOUT,
                 write_timeout: float = WRITE_TIMEOUT, workers: int = WORKERS,
                 max_connections: int = MAX_CONNECTIONS, backlog: int = BACKLOG, max_body: int = MAX_BODY,
                 max_buffered: int | None = None) -> None:
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host.strip("[]"), port))
            self.socket.listen(backlog)
        except BaseException:
            self.socket.close()
            raise
        self.socket.setblocking(False)
        self.server_address: tuple[Any, ...] = self.socket.getsockname()
        self.allowed_hosts = HostAllowlist(host)
        self.handler = handler
        self.timeout, self.write_timeout, self.workers = timeout, write_timeout, workers
        # Uploads (``max_body`` past the default): the bytes all connections still sending their
        # requests may hold together; a request that would pass it is refused (503), so that many
        # clients trickling large bodies at once cannot exhaust the memory.
        self.max_body, self.max_buffered = max_body, max_buffered
        self._buffered = 0
        self.max_connections = _room_for(max_connections)
        self._pool = _Workers(workers, "ganzoo-demo")
        self._selector = selectors.DefaultSelector()
        self._wake_in, self._wake_out = socket.socketpair()
        for end in (self._wake_in, self._wake_out):
            end.setblocking(False)
        self._selector.register(self.socket, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_in, selectors.EVENT_READ, "wake")
        # Connections by state, each ordered by deadline (a fixed time after it entered), oldest first.
        self._tables: dict[str, OrderedDict[socket.socket, _Connection]] = {
            state: OrderedDict() for state in (READING, WRITING, DRAINING)}
        self._working = 0  # requests with the workers; only the socket thread counts them
        self._answers: deque[tuple[_Connection, bytes]] = deque()  # from the workers to the socket thread
        self._accept_paused_until = 0.0
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()

    @property
    def open_connections(self) -> int:
        """Connections held now: sending a request, with a worker, taking an answer, or closing."""
        return sum(len(table) for table in self._tables.values()) + self._working

    # -- the socket thread ----------------------------------------------------------------------
    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._stopped.clear()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = poll_interval
                for table in self._tables.values():
                    if table:
                        wait = min(wait, next(iter(table.values())).deadline - now)
                if self._accept_paused_until:
                    wait = min(wait, self._accept_paused_until - now)
                for key, _ in self._selector.select(max(0.0, wait)):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_in.recv(4096)
                    elif key.data.state == READING:
                        self._read(key.data)
                    elif key.data.state == WRITING:
                        self._write(key.data)
                    else:
                        self._drain(key.data)
                while self._answers:
                    conn, answer = self._answers.popleft()
                    self._working -= 1
                    self._buffered -= conn.queued  # its body was held until the worker finished
                    conn.queued = 0
                    self._start_answer(conn, answer)
                self._expire(time.monotonic())
        finally:
            self._stop.clear()
            self._stopped.set()

    def _accept(self) -> None:
        for _ in range(64):  # a burst at a time, then the others get their turn
            try:
                sock, address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError:  # out of file descriptors: make room, or stop accepting for a moment
                if not self._evict():
                    self._selector.unregister(self.socket)
                    self._accept_paused_until = time.monotonic() + 0.1
                    return
                continue
            sock.setblocking(False)
            if self.open_connections >= self.max_connections and not self._evict():
                with contextlib.suppress(OSError):
                    sock.send(error_answer(HTTPStatus.SERVICE_UNAVAILABLE, "the demo is busy; try again shortly"))
                sock.close()
                continue
            self._enter(_Connection(sock, address, 0.0), READING, self.timeout)

    def _enter(self, conn: _Connection, state: str, seconds: float) -> None:
        conn.state, conn.deadline = state, time.monotonic() + seconds
        self._tables[state][conn.sock] = conn
        self._selector.register(conn.sock, selectors.EVENT_WRITE if state == WRITING else selectors.EVENT_READ, conn)

    def _read(self, conn: _Connection) -> None:
        chunk = _receive(conn.sock)
        if chunk is None:
            return
        if not chunk:  # the client hung up before its request was whole
            self._drop(conn)
            return
        conn.data += chunk
        self._buffered += len(chunk)
        if self.max_buffered is not None and self._buffered > self.max_buffered:
            self._unlist(conn)
            conn.data = bytearray()
            self._start_answer(conn, error_answer(HTTPStatus.SERVICE_UNAVAILABLE,
                                                  "the demo is receiving too many uploads at once; try again shortly"))
            return
        try:
            size = request_size(conn.data, self.max_body)
        except Refusal as refusal:
            self._unlist(conn)
            conn.data = bytearray()
            self._start_answer(conn, error_answer(refusal.status, str(refusal)))
            return
        if size is not None:
            self._unlist(conn)
            self._working += 1
            # a body waiting for a worker is still in memory: it counts against max_buffered until
            # answered, so uploads queued behind a slow translation cannot grow without bound
            conn.queued = size
            self._buffered += size
            self._pool.submit(self._work, conn, bytes(conn.data[:size]))
            conn.data = bytearray()

    def _start_answer(self, conn: _Connection, answer: bytes) -> None:
        if not answer:  # nothing to say (an empty request line): just close
            _close(conn.sock)
            return
        conn.answer = memoryview(answer)
        self._enter(conn, WRITING, self.write_timeout)
        self._write(conn)  # most answers fit the socket's buffer at once

    def _write(self, conn: _Connection) -> None:
        try:
            sent = conn.sock.send(conn.answer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the client hung up: nothing to report
            self._drop(conn)
            return
        conn.answer = conn.answer[sent:]
        if conn.answer:
            return
        # Answered. Closing now, with unread bytes of the client's (a refused request's rest),
        # would reset the connection and could destroy the answer before the client reads it:
        # say we are done and let the client close first, for a short while.
        self._unlist(conn)
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            _close(conn.sock)
            return
        self._enter(conn, DRAINING, LINGER)

    def _drain(self, conn: _Connection) -> None:
        chunk = _receive(conn.sock)
        if chunk is None:
            return
        if not chunk:
            self._drop(conn)

    def _expire(self, now: float) -> None:
        for table in self._tables.values():
            while table:
                conn = next(iter(table.values()))
                if conn.deadline > now:
                    break
                self._drop(conn)
        if self._accept_paused_until and now >= self._accept_paused_until:
            self._accept_paused_until = 0.0
            self._selector.register(self.socket, selectors.EVENT_READ, "accept")

    def _evict(self) -> bool:
        """Close the oldest connection that is closing, else the oldest still sending its request;
        False when there is none."""
        for state in (DRAINING, READING):
            if self._tables[state]:
                self._drop(next(iter(self._tables[state].values())))
                return True
        return False

    def _unlist(self, conn: _Connection) -> None:
        if self._tables[conn.state].pop(conn.sock, None) is not None and conn.state == READING:
            self._buffered -= len(conn.data)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)

    def _drop(self, conn: _Connection) -> None:
        self._unlist(conn)
        _close(conn.sock)

    # -- the workers ----------------------------------------------------------------------------
    def _work(self, conn: _Connection, request: bytes) -> None:
        try:
            handler = self.handler(request, conn.address, self)  # type: ignore[arg-type]
            answer = handler.wfile.getvalue()  # type: ignore[attr-defined]
        except Exception as exc:  # the server outlives any one request
            answer = error_answer(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")
        self._answers.append((conn, answer))
        with contextlib.suppress(OSError):  # a full pipe is awake already; a closed one has stopped
            self._wake_out.send(b"x")

    # -- from other threads ---------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop ``serve_forever`` and wait until it has returned."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_out.send(b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        self._pool.close()
        for table in self._tables.values():
            for conn in list(table.values()):
                self._drop(conn)
        self._selector.close()
        for sock in (self.socket, self._wake_in, self._wake_out):
            sock.close()


class _Workers:
    """A fixed number of daemon threads, started as work arrives, taking jobs from a queue. Not a
    ThreadPoolExecutor: the interpreter joins those threads at exit, so a Ctrl-C on a busy machine
    waited for every generation in flight; a daemon worker is simply dropped with the process."""

    def __init__(self, count: int, name: str) -> None:
        self.count, self.name = count, name
        self.jobs: queue.SimpleQueue[tuple[Any, tuple[Any, ...]] | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []

    def submit(self, fn: Any, *args: Any) -> None:
        self.jobs.put((fn, args))
        if len(self.threads) < self.count:
            thread = threading.Thread(target=self._run, name=f"{self.name}-{len(self.threads)}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args = job
            fn(*args)

    def close(self) -> None:
        """Drop the jobs still waiting; each thread ends after the one it is running."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.jobs.get_nowait()
        for _ in self.threads:
            self.jobs.put(None)


def _receive(sock: socket.socket) -> bytes | None:
    """What the client sent (at most 64 KiB), b"" when it hung up or the socket broke, None when
    nothing is there yet."""
    try:
        return sock.recv(65536)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _room_for(wanted: int) -> int:
    """How many connections fit the process's file-descriptor limit, raising its soft limit
    towards the hard one if need be (256 are kept for everything else)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to read
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + 256
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    return wanted if soft == resource.RLIM_INFINITY else max(16, min(wanted, soft - 256))
