"""The control API and web panel, served over HTTP from inside ``livestyle run``.

The web stack is the standard library's ``ThreadingHTTPServer`` (one thread
per connection, server-sent events on a plain keep-open response): it adds
no dependency, and it costs the frame loop less than the 0.5 ms per frame
the design allows (measured: benchmarks/control_bench.py, RESULTS.md).  The
server never touches frames on the hot path: it writes
:class:`~livestyle.controls.Controls` and reads the pipeline's fixed-size
state and its last output frame (JPEG-encoded here, on request).

Every request that changes something becomes one
:class:`~livestyle.controls.Command` of the vocabulary in
:mod:`livestyle.controls` and goes to ``Controls.apply``; this module only
translates the HTTP forms below into commands and maps a
:class:`~livestyle.controls.CommandError` to a 400 with one line.

Endpoints (JSON bodies; ``Authorization: Bearer TOKEN`` on every ``/api``
request; the GET action URLs under ``/act/`` may carry ``?token=TOKEN``
instead, for Stream Deck "Website" buttons and Bitfocus Companion):

=====================================  ==============================================
``GET /``                              the web panel (also an OBS Custom Browser Dock)
``GET /api/state``                     look, weights, strength, bypass, fps, latency...
``POST /api/command``                  ``{"name": COMMAND, "value": VALUE}``: any command
``POST /api/style``                    ``{"name": "pastel"}`` (command ``style``) or
                                       ``{"weights": {...}}`` (command ``weights``)
``POST /api/strength``                 ``{"value": 0.8}`` (command ``strength``)
``POST /api/bypass``                   ``{"on": true}`` (command ``bypass``)
``POST /api/background``               ``{"mode": "blur"}`` (``background``), ``{"blur": 0.6}``
                                       (``background-blur``) or ``{"color": "#00b140"}``
                                       (``background-color``): one key per request
``POST /api/look-on``                  ``{"value": "person"}`` (command ``look-on``)
``POST /api/beauty``                   ``{"smooth": 0.5, "tone": 0.2, "slim": 0.2, "eyes": 0.1}``
                                       (any of the four; command ``beauty``)
``GET /api/styles``                    installed looks, each with a thumbnail (data URL)
``GET /api/snapshot.jpg``              the current output frame (``?which=input``: before)
``GET /api/events``                    server-sent events: the state, at most 10 per second
``GET /act/COMMAND[?value=V]``         any command; ``V`` is read as JSON where it parses
                                       (``0.5``, ``true``), else as a string (a look name);
                                       ``/act/bypass`` without a value is ``bypass-toggle``
=====================================  ==============================================

Security (see :mod:`livestyle.security` and README "Security"):
loopback bind by default (IPv6 for an IPv6 host), a per-run random token
compared in constant time, ``Host`` checked against DNS rebinding, a foreign
``Origin`` refused on POST, no CORS headers, bodies capped, bad requests
answered 400 with one line, and no request can stop the stream.  Resources
are bounded whatever clients do: ``MAX_CONNECTIONS`` connections (more are
answered 503 at accept, with no thread), ``READ_TIMEOUT_S`` per read and
``REQUEST_DEADLINE_S`` for a whole request, ``MAX_EVENT_CLIENTS`` event
streams fed from one serialisation per change (a stream that cannot keep up
is dropped), and :meth:`ControlServer.stop` hangs up every connection, so a
run ends within about a second of its signal.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from livestyle.security import bearer_token, host_allowed, new_token, origin_allowed, token_ok
from livestyle.controls import COMMANDS, Command, CommandError
from livestyle.errors import LivestyleError, UsageError

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
EVENTS_MIN_INTERVAL_S = 0.1  # at most 10 events per second
EVENTS_MAX_INTERVAL_S = 0.5  # and at least 2, so the panel's graph moves
# Bounds that hold whatever clients do (read where they are used, so a test can lower them; READ_TIMEOUT_S
# is read when the handler class is made):
MAX_CONNECTIONS = 64  # open connections at once; one more is answered 503 at accept, with no thread
MAX_EVENT_CLIENTS = 16  # /api/events streams at once; one more is answered 503 with Retry-After
READ_TIMEOUT_S = 5.0  # a connection that sends nothing for this long is closed
REQUEST_DEADLINE_S = 10.0  # a whole request (line, headers, body) must arrive within this, or it is cut off
EVENT_WRITE_TIMEOUT_S = 1.0  # an event client whose socket stays full this long is dropped
EVENT_SNDBUF = 16 * 1024  # kernel send buffer of an event client: a few events, not a backlog
SHUTDOWN_GRACE_S = 1.0  # stop() waits at most this long for connection threads after closing their sockets
RETRY_AFTER_S = 5
THUMB_SIZE = (160, 96)
SNAPSHOT_MAX_WIDTH = 640  # the panel shows it at most ~560 px wide
_WEB_FILES = {"/": ("index.html", "text/html; charset=utf-8"),
              "/panel.js": ("panel.js", "text/javascript; charset=utf-8"),
              "/panel.css": ("panel.css", "text/css; charset=utf-8")}
_ACT_ALIASES = {"bypass": "bypass-toggle"}  # /act/bypass (no value) toggled before the vocabulary existed


def command_from_post(path: str, body: dict) -> Command | None:
    """The :class:`Command` a ``POST`` to ``path`` with JSON object ``body`` asks for; None for no such endpoint.

    Only the shape of the request is read here; ``Controls.apply`` validates the value.
    """
    if path == "/api/command":
        return Command(body.get("name"), body.get("value"))
    if path == "/api/style":
        return Command("weights", body["weights"]) if "weights" in body else Command("style", body.get("name"))
    if path == "/api/strength":
        return Command("strength", body.get("value"))
    if path == "/api/bypass":
        return Command("bypass", body.get("on"))
    if path == "/api/background":  # one of {"mode": ...}, {"blur": 0..1}, {"color": "#RRGGBB"}
        keys = [k for k in ("mode", "blur", "color") if k in body]
        if len(keys) != 1:
            raise CommandError(f"/api/background takes exactly one of mode, blur, color (got {len(keys)}).",
                               fix='Send e.g. {"mode": "blur"}, then {"blur": 0.6} in a second request.')
        name = {"mode": "background", "blur": "background-blur", "color": "background-color"}[keys[0]]
        return Command(name, body[keys[0]])
    if path == "/api/look-on":
        return Command("look-on", body.get("value"))
    if path == "/api/beauty":  # {"smooth": 0.5, "tone": 0.2, ...}: the amounts named
        return Command("beauty", body)
    return None


def command_from_action(name: str, query: dict) -> Command | None:
    """The :class:`Command` of ``GET /act/NAME?value=V`` (``query`` from ``parse_qs``); None for no such command.

    ``V`` is read as JSON where it parses (``0.5``, ``true``, ``{"a": 1}``), else kept as a string.
    """
    raw = (query.get("value") or [None])[0]
    if raw is None:
        name = _ACT_ALIASES.get(name, name)
        value = None
    else:
        try:
            value = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError):  # a look name, or junk that Controls.apply will refuse
            value = raw
    spec = COMMANDS.get(name)
    if spec is None or not spec.remote:
        return None
    return Command(name, value)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number")


def _remote_names() -> str:
    return ", ".join(n for n, spec in COMMANDS.items() if spec.remote)


def _busy_response(what: str) -> bytes:
    body = (json.dumps({"error": f"Too many {what}; try again in {RETRY_AFTER_S} s."}) + "\n").encode()
    return (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {RETRY_AFTER_S}\r\nCache-Control: no-store\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def _hang_up(sock: socket.socket) -> None:
    """Shut a connection both ways: a thread blocked reading or writing it returns at once."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _HTTPServer(ThreadingHTTPServer):
    """One thread per connection, with a cap on connections, a deadline per request and a bounded close.

    ``_pending`` maps each open connection to the ``time.monotonic()`` at
    which the request it is waiting for began (None while a response is
    being written); the serving loop cuts off requests older than
    ``REQUEST_DEADLINE_S`` (a client trickling header lines resets no
    timer), and :meth:`close_connections` hangs up every connection so
    that no client can hold up the end of a run.
    """

    daemon_threads = True
    block_on_close = False  # close_connections() joins the threads, with a deadline
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, family: int):
        self.address_family = family
        self._pending: dict[socket.socket, float | None] = {}
        self._conn_threads: set[threading.Thread] = set()
        self._conn_lock = threading.Lock()
        self._closing = False
        super().__init__(address, handler)

    def handle_error(self, request, client_address):  # a broken client must not print a traceback
        log.debug("control API: error serving %s", client_address, exc_info=True)

    def process_request(self, request, client_address):
        with self._conn_lock:
            accept = not self._closing and len(self._pending) < MAX_CONNECTIONS
            if accept:
                self._pending[request] = time.monotonic()
        if not accept:
            try:
                request.setblocking(False)
                request.send(_busy_response("connections"))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        t = threading.Thread(target=self._serve_connection, args=(request, client_address), name="control-conn",
                             daemon=True)
        with self._conn_lock:
            self._conn_threads.add(t)
        t.start()

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._pending.pop(request, None)
                self._conn_threads.discard(threading.current_thread())
            self.shutdown_request(request)

    def mark(self, request, began: float | None) -> None:
        """Record that ``request``'s connection waits for a request since ``began`` (None: answering)."""
        with self._conn_lock:
            if request in self._pending:
                self._pending[request] = began

    def service_actions(self):  # called by serve_forever every poll interval
        now = time.monotonic()
        with self._conn_lock:
            late = [c for c, t in self._pending.items() if t is not None and now - t > REQUEST_DEADLINE_S]
            for c in late:
                self._pending[c] = None
        for c in late:
            log.debug("control API: a request took over %.0f s to arrive; closing its connection", REQUEST_DEADLINE_S)
            _hang_up(c)

    def close_connections(self, grace_s: float) -> int:
        """Refuse new connections, hang up every open one, wait up to ``grace_s`` for their threads; how many
        threads were still running after that."""
        with self._conn_lock:
            self._closing = True
            conns = list(self._pending)
            threads = list(self._conn_threads)
        for c in conns:
            _hang_up(c)
        deadline = time.monotonic() + grace_s
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return sum(t.is_alive() for t in threads)


class _EventHub:
    """The state event, built once per change for every ``/api/events`` client.

    One thread (running while there are clients) waits for a change of the
    controls, at most 10 times a second and at least twice, serialises
    ``server.state()`` once and publishes it with a sequence number; each
    client thread sends the newest event and skips any it missed, so a slow
    client is never queued for: if its socket stays full for
    ``EVENT_WRITE_TIMEOUT_S`` it is dropped.
    """

    def __init__(self, server: "ControlServer"):
        self._server = server
        self._cond = threading.Condition()
        self._seq = 0
        self._payload = b""
        self._thread: threading.Thread | None = None
        self._closed = False
        self.clients = 0
        self.built = 0  # events serialised (for tests and benchmarks)

    def join(self) -> bool:
        """Register a client; False when ``MAX_EVENT_CLIENTS`` are already connected (or the server stops)."""
        with self._cond:
            if self._closed or self.clients >= MAX_EVENT_CLIENTS:
                return False
            self.clients += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="control-events", daemon=True)
                self._thread.start()
            return True

    def leave(self) -> None:
        with self._cond:
            self.clients -= 1

    def next(self, seq: int, timeout: float) -> tuple[int, bytes] | None:
        """The newest event once its number differs from ``seq`` (or the same one after ``timeout``); None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._seq != seq or self._closed, timeout)
            return None if self._closed else (self._seq, self._payload)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        controls = self._server.pipeline.controls
        version, last = -1, 0.0
        while True:
            with self._cond:
                if self._closed or self.clients <= 0:
                    self._thread = None
                    return
            state = controls.wait_change(version, EVENTS_MAX_INTERVAL_S)
            version = state.version
            wait = EVENTS_MIN_INTERVAL_S - (time.monotonic() - last)
            if wait > 0:
                time.sleep(wait)
            payload = f"event: state\ndata: {json.dumps(self._server.state())}\n\n".encode()
            last = time.monotonic()
            with self._cond:
                self._seq += 1
                self._payload = payload
                self.built += 1
                self._cond.notify_all()


class ControlServer:
    """The HTTP server of one run; ``start()`` binds and serves on a daemon thread, ``stop()`` ends it.

    ``pipeline`` provides ``controls``, ``state()``, ``latest`` and ``stats``;
    ``styles`` is the list of installed StylePacks (for thumbnails).
    """

    def __init__(self, pipeline, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
                 styles=()):
        self.pipeline = pipeline
        self.host, self.port = host, port
        self.token = token or new_token()
        self.styles = list(styles)
        self._thumbs: list[dict] | None = None
        self._thumb_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self.events = _EventHub(self)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.requests = 0
        self.cpu_s = 0.0  # CPU time the request threads used (thread_time), for the overhead figure
        self._cpu_lock = threading.Lock()
        self._snap_cache: tuple | None = None

    @property
    def event_clients(self) -> int:
        """How many ``/api/events`` streams are open."""
        return self.events.clients

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def panel_url(self) -> str:
        return f"{self.base_url}/?token={self.token}"

    def start(self) -> None:
        """Bind and serve; SinkError-like UsageError with a fix when the port is taken."""
        handler = type("Handler", (_Handler,), {"server_ref": self})
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET  # [::1] needs an IPv6 socket
            self._httpd = _HTTPServer((self.host, self.port), handler, family)
        except OSError as e:
            raise UsageError(f"The control API cannot listen on {self.host}:{self.port} ({e.strerror or e}).",
                             fix="Pick another port, e.g. --control 127.0.0.1:8766.") from None
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="control-api", daemon=True)
        self._thread.start()
        log.info("control API on %s", self.base_url)

    def stop(self) -> None:
        """Stop serving within about ``SHUTDOWN_GRACE_S`` + 0.2 s, whatever clients do; idempotent.

        Every open connection is hung up (idle, half-sent, or streaming
        events), so no client holds the end of the run.
        """
        self._stopping.set()
        self.events.close()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()  # the accept loop ends within its poll interval (0.2 s)
            left = httpd.close_connections(SHUTDOWN_GRACE_S)
            if left:
                log.debug("control API: %d connection threads still busy at shutdown", left)
            httpd.server_close()

    # -- data the handlers serve -----------------------------------------------------------------
    def thumbnails(self) -> list[dict]:
        """Every installed look rendered on the demo scene's first frame, as JPEG data URLs (made once)."""
        with self._thumb_lock:
            if self._thumbs is None:
                self._thumbs = self._render_thumbnails()
            return self._thumbs

    def _render_thumbnails(self) -> list[dict]:
        import cv2

        from livestyle.ops.upsample import downscale
        from livestyle.runners.bank import RunnerBank
        from livestyle.runners.registry import create_runner
        from livestyle.sources.demo import DemoSource

        demo = DemoSource(size=(640, 384), fps=30.0, realtime=False)
        demo.open()
        try:
            ref = downscale(demo.read(), THUMB_SIZE)
        finally:
            demo.close()
        packs = {s.name: s for s in self.styles}
        bank = RunnerBank(packs, lambda p: create_runner("onnxruntime", p, infer_size=THUMB_SIZE).runner)
        out = []
        try:
            for name in self.pipeline.controls.looks:
                entry = {"name": name, "thumbnail": None, "error": None}
                pack = packs.get(name)
                if pack is not None:
                    entry["bundled"] = bool(getattr(pack, "bundled", False))
                    entry["look"] = getattr(pack, "look", None)
                try:
                    bank.load({name: 1.0})
                    img = bank.infer(ref, {name: 1.0})
                    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
                    entry["thumbnail"] = "data:image/jpeg;base64," + base64.b64encode(jpg.tobytes()).decode()
                except LivestyleError as e:
                    entry["error"] = str(e)
                out.append(entry)
        finally:
            bank.close()
        return out

    def snapshot_jpeg(self, which: str = "output") -> bytes | None:
        """The last sent frame (or its input) as JPEG, at most 640 wide; encoded once per frame and kind."""
        import cv2

        latest = self.pipeline.latest
        if latest is None:
            return None
        cached = self._snap_cache
        if cached is not None and cached[0] is latest and cached[1] == which:
            return cached[2]
        img = latest[1] if which == "input" else latest[0]
        h, w = img.shape[:2]
        if w > SNAPSHOT_MAX_WIDTH:
            img = cv2.resize(img, (SNAPSHOT_MAX_WIDTH, round(h * SNAPSHOT_MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
        if img.ndim == 3 and img.shape[2] == 4:  # a transparent background: show it over a checkerboard
            from livestyle.ops.matte import composite, checkerboard

            img = composite(img[:, :, :3], img[:, :, 3], checkerboard(img.shape[0], img.shape[1]))
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            return None
        self._snap_cache = (latest, which, jpg.tobytes())
        return self._snap_cache[2]

    def state(self) -> dict:
        return self.pipeline.state()

    def apply(self, command: Command) -> dict:
        """Apply ``command`` through ``Controls.apply`` (CommandError when it is refused); the state after it."""
        self.pipeline.controls.apply(command)
        return self.state()


class _Handler(BaseHTTPRequestHandler):
    server_ref: ControlServer
    timeout = READ_TIMEOUT_S  # per read; REQUEST_DEADLINE_S bounds a whole request
    protocol_version = "HTTP/1.1"
    server_version = "livestyle"
    sys_version = ""

    def handle(self):
        t0 = time.thread_time()
        try:
            super().handle()
        except OSError:  # a client that went away or timed out
            pass
        finally:
            srv = self.server_ref
            with srv._cpu_lock:
                srv.cpu_s += time.thread_time() - t0

    def handle_one_request(self):
        self.server.mark(self.connection, time.monotonic())  # waiting for a request from now on
        super().handle_one_request()

    def send_response(self, code, message=None):
        self.server.mark(self.connection, None)  # the request arrived: answering it is not bounded by its deadline
        super().send_response(code, message)

    def log_message(self, fmt, *args):  # the library never prints; debug log only
        log.debug("control API %s: " + fmt, self.address_string(), *args)

    # -- responses -------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data) -> None:
        self._send(status, (json.dumps(data) + "\n").encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message})

    # -- checks ----------------------------------------------------------------------------------
    def _host_ok(self) -> bool:
        srv = self.server_ref
        if host_allowed(self.headers.get("Host"), srv.port, srv.host):
            return True
        self._error(HTTPStatus.FORBIDDEN, "Host header not allowed (only 127.0.0.1, localhost or [::1] "
                                          f"with port {srv.port}).")
        return False

    def _token_ok(self, query: dict, allow_query: bool) -> bool:
        given = bearer_token(self.headers.get("Authorization"))
        if given is None and allow_query:
            given = (query.get("token") or [None])[0]
        if token_ok(given, self.server_ref.token):
            return True
        self._error(HTTPStatus.UNAUTHORIZED, "Missing or wrong token: send 'Authorization: Bearer TOKEN' "
                                             "(the token livestyle printed with the panel URL).")
        return False

    def _body(self) -> dict | None:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._error(HTTPStatus.LENGTH_REQUIRED, "Chunked bodies are not accepted; send Content-Length.")
            return None
        try:
            n = int(length or "0")
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number.")
            return None
        if n > MAX_BODY:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"Body of {n} bytes is over the {MAX_BODY}-byte limit.")
            self.close_connection = True
            return None
        raw = self.rfile.read(n) if n > 0 else b""
        try:
            data = json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, ValueError) as e:
            self._error(HTTPStatus.BAD_REQUEST, f"The body is not valid JSON ({e}).")
            return None
        except RecursionError:
            self._error(HTTPStatus.BAD_REQUEST, "The body is nested too deeply; send a flat JSON object.")
            return None
        if not isinstance(data, dict):
            self._error(HTTPStatus.BAD_REQUEST, "The body must be a JSON object, e.g. {\"value\": 0.8}.")
            return None
        return data

    # -- methods ---------------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        srv = self.server_ref
        srv.requests += 1
        try:
            if not self._host_ok():
                return
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            path = url.path
            if path in _WEB_FILES:
                name, ctype = _WEB_FILES[path]
                body = resources.files("livestyle.control").joinpath("web", name).read_bytes()
                csp = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
                       "connect-src 'self'; frame-ancestors 'none'")
                self._send(HTTPStatus.OK, body, ctype, {"Content-Security-Policy": csp})
                return
            if path.startswith("/act/"):
                command = command_from_action(path[len("/act/"):], query)
                if command is None:
                    self._error(HTTPStatus.NOT_FOUND, f"No action {path[len('/act/'):]!r:.60}; actions: {_remote_names()}.")
                    return
                if not self._token_ok(query, allow_query=True):
                    return
                self._apply(command)
                return
            if not path.startswith("/api/"):
                self._error(HTTPStatus.NOT_FOUND, f"No page {path!r}.")
                return
            if not self._token_ok(query, allow_query=False):
                return
            if path == "/api/state":
                self._json(HTTPStatus.OK, srv.state())
            elif path == "/api/styles":
                self._json(HTTPStatus.OK, {"styles": srv.thumbnails()})
            elif path == "/api/snapshot.jpg":
                which = (query.get("which") or ["output"])[0]
                if which not in ("output", "input"):
                    self._error(HTTPStatus.BAD_REQUEST, "which must be output or input.")
                    return
                jpg = srv.snapshot_jpeg(which)
                if jpg is None:
                    self._error(HTTPStatus.SERVICE_UNAVAILABLE, "No frame has been sent yet.")
                else:
                    self._send(HTTPStatus.OK, jpg, "image/jpeg")
            elif path == "/api/events":
                self._events()
            else:
                self._error(HTTPStatus.NOT_FOUND, f"No endpoint {path!r}.")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_POST(self):
        srv = self.server_ref
        srv.requests += 1
        try:
            if not self._host_ok():
                return
            if not origin_allowed(self.headers.get("Origin"), self.headers.get("Host")):
                self._error(HTTPStatus.FORBIDDEN, "Cross-origin requests are refused.")
                return
            url = urlsplit(self.path)
            if not self._token_ok({}, allow_query=False):
                return
            body = self._body()
            if body is None:
                return
            try:
                command = command_from_post(url.path, body)
            except CommandError as e:
                self._error(HTTPStatus.BAD_REQUEST, str(e))
                return
            if command is None:
                self._error(HTTPStatus.NOT_FOUND, f"No endpoint {url.path!r}.")
                return
            if isinstance(command.name, str) and command.name in COMMANDS and not COMMANDS[command.name].remote:
                self._error(HTTPStatus.FORBIDDEN, f"The command {command.name!r} is not available over HTTP.")
                return
            self._apply(command)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _apply(self, command: Command) -> None:
        """Answer 200 with the new state, or 400 with the one-line reason ``Controls.apply`` gave."""
        try:
            state = self.server_ref.apply(command)
        except CommandError as e:
            self._error(HTTPStatus.BAD_REQUEST, str(e))
            return
        self._json(HTTPStatus.OK, {"ok": True, "state": state})

    def _events(self) -> None:
        """Server-sent events: the state as JSON, on every change and at least twice a second (max 10/s).

        At most ``MAX_EVENT_CLIENTS`` at once (more get 503 with Retry-After);
        a client that does not keep up is dropped; HEAD gets the headers only.
        """
        srv = self.server_ref
        self.close_connection = True
        if self.command == "HEAD":
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        hub = srv.events
        if not hub.join():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE,
                       (json.dumps({"error": f"Too many event streams open (at most {MAX_EVENT_CLIENTS}); try again "
                                             f"in {RETRY_AFTER_S} s."}) + "\n").encode(),
                       "application/json", {"Retry-After": str(RETRY_AFTER_S), "Connection": "close"})
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, EVENT_SNDBUF)
            self.connection.settimeout(EVENT_WRITE_TIMEOUT_S)
            seq = 0
            while not srv._stopping.is_set():
                event = hub.next(seq, 1.0)
                if event is None:
                    break
                if event[0] == seq:
                    continue
                seq, payload = event
                self.wfile.write(payload)  # unbuffered: a full socket raises after EVENT_WRITE_TIMEOUT_S
        except OSError:
            log.debug("control API: dropped an event client that did not keep up or went away")
        finally:
            hub.leave()
