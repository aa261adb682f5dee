"""A minimal obs-websocket v5 client (request/response; no event subscriptions).

Protocol (obs-websocket 5.x, ``docs/generated/protocol.md``): the server
sends Hello (op 0) with an optional ``authentication`` challenge and salt;
the client answers Identify (op 1) with
``base64(sha256(base64(sha256(password + salt)) + challenge))``; the server
confirms with Identified (op 2) or closes with code 4009 (authentication
failed).  Requests are op 6, their responses op 7, matched by ``requestId``.

Connection problems become :class:`ObsError` with one sentence that says how
to fix them: OBS not running / the websocket server disabled (connection
refused), a wrong or missing password, a version that speaks another protocol.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import threading
from typing import Any
from urllib.parse import urlsplit

from livestyle.errors import LivestyleError, UsageError

log = logging.getLogger(__name__)

DEFAULT_URL = "ws://127.0.0.1:4455"
PASSWORD_ENV = "LIVESTYLE_OBS_PASSWORD"
_SUBPROTOCOL = "obswebsocket.json"
_CLOSE_AUTH_FAILED = 4009
_CLOSE_UNSUPPORTED_RPC = 4010


class ObsError(LivestyleError):
    """OBS cannot be reached, refused us, or answered a request with an error."""


class ObsAuthError(ObsError):
    """OBS refused the password, or wants one and none was given (retrying cannot help)."""


def auth_string(password: str, salt: str, challenge: str) -> str:
    """The Identify ``authentication`` value for ``password`` (obs-websocket 5 SHA256 scheme)."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode("utf-8")).digest()).decode("ascii")
    return base64.b64encode(hashlib.sha256((secret + challenge).encode("utf-8")).digest()).decode("ascii")


def normalise_url(url: str | None) -> str:
    """The OBS websocket address in canonical form, ``ws://HOST:PORT``; :class:`UsageError` when it is not one.

    ``None``/``""`` -> the default; ``PORT`` -> ``ws://127.0.0.1:PORT``; ``HOST:PORT`` -> ``ws://HOST:PORT``;
    ``ws://HOST`` gets OBS's default port 4455.  Refused, with one sentence saying the form to use: another
    scheme, no host, a port that is not a number in 1-65535, an unclosed ``[``, spaces, a user name, a
    query or a fragment.  Called where the address enters (the CLI, :class:`ObsClient`, :class:`ObsLink`),
    so a bad address stops the command at once instead of failing later in a worker thread.
    """
    if not url:
        return DEFAULT_URL
    u = url.strip()
    if u.isdigit():
        u = f"ws://127.0.0.1:{u}"
    elif "://" not in u:
        u = f"ws://{u}"
    fix = "Pass --obs ws://HOST:PORT, e.g. ws://127.0.0.1:4455 (the port is in OBS: Tools -> WebSocket Server Settings)."
    bad = lambda why: UsageError(f"The OBS address {url!r} {why}.", fix=fix)  # noqa: E731
    if any(c.isspace() for c in u):
        raise bad("contains a space")
    try:
        parts = urlsplit(u)
        port = parts.port
        host = parts.hostname
    except ValueError as e:  # an unclosed '[', a port that is not a number or is out of range
        raise bad(f"is not a valid address ({e})") from None
    if parts.scheme.lower() not in ("ws", "wss"):
        raise bad(f"must start with ws:// (OBS's websocket), not {parts.scheme}://")
    if not host:
        raise bad("names no host")
    if parts.username is not None or parts.password is not None:
        raise bad("holds a user name; OBS's websocket takes a password only")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise bad("has a path or query after the port; OBS's websocket has none")
    if port is None:
        port = 4455
    if not 1 <= port <= 65535:
        raise bad(f"has port {port}, outside 1-65535")
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{netloc}:{port}"


class ObsClient:
    """A blocking obs-websocket v5 connection; :meth:`call` is thread-safe (one request at a time).

    ``password`` falls back to the ``LIVESTYLE_OBS_PASSWORD`` environment
    variable.  Use as a context manager or call :meth:`close`.
    """

    def __init__(self, url: str | None = None, password: str | None = None, *, timeout: float = 5.0):
        self.url = normalise_url(url)
        self.password = password if password is not None else os.environ.get(PASSWORD_ENV) or None
        self.timeout = float(timeout)
        self.version: dict[str, Any] = {}
        self._ws = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- connection ---------------------------------------------------------------------------------
    def connect(self) -> "ObsClient":
        """Open, authenticate and identify; raise :class:`ObsError` (one sentence with the fix) on failure."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
        from websockets.sync.client import connect

        try:
            ws = connect(self.url, subprotocols=[_SUBPROTOCOL], open_timeout=self.timeout,
                         close_timeout=1.0, max_size=64 * 1024 * 1024)
            ws.__enter__()  # the connection lives as long as this client; close() ends it (websockets >= 17.1 asks)
        except (ConnectionRefusedError, TimeoutError) as e:
            raise ObsError(f"OBS did not answer at {self.url} ({type(e).__name__}).",
                           fix="Start OBS and enable Tools -> WebSocket Server Settings -> Enable WebSocket server "
                               "(and check the port).") from None
        except (OSError, InvalidHandshake, InvalidURI, ConnectionClosed) as e:  # closed: OBS went away mid-handshake
            raise ObsError(f"Could not open a websocket to OBS at {self.url}: {e}.",
                           fix="Check that OBS runs there and its websocket server is enabled "
                               "(Tools -> WebSocket Server Settings).") from None
        try:
            hello = self._recv(ws)
            if hello.get("op") != 0:
                raise ObsError(f"OBS at {self.url} sent op {hello.get('op')!r} instead of Hello.",
                               fix="Use OBS 28 or later (obs-websocket 5).")
            data = hello.get("d", {})
            identify: dict[str, Any] = {"rpcVersion": 1, "eventSubscriptions": 0}
            auth = data.get("authentication")
            if auth:
                if not self.password:
                    raise ObsAuthError(f"OBS at {self.url} asks for a password and none was given.",
                                   fix=f"Pass --obs-password or set {PASSWORD_ENV} (OBS: Tools -> WebSocket Server "
                                       "Settings -> Show Connect Info).")
                identify["authentication"] = auth_string(self.password, auth["salt"], auth["challenge"])
            ws.send(json.dumps({"op": 1, "d": identify}))
            reply = self._recv(ws)
            if reply.get("op") != 2:
                raise ObsError(f"OBS at {self.url} answered Identify with op {reply.get('op')!r}.",
                               fix="Use OBS 28 or later (obs-websocket 5).")
        except ConnectionClosed as e:
            ws.close()
            code = e.rcvd.code if e.rcvd is not None else None
            if code == _CLOSE_AUTH_FAILED:
                raise ObsAuthError(f"OBS at {self.url} refused the password.",
                               fix=f"Copy it from OBS (Tools -> WebSocket Server Settings -> Show Connect Info) into "
                                   f"--obs-password or {PASSWORD_ENV}.") from None
            if code == _CLOSE_UNSUPPORTED_RPC:
                raise ObsError(f"OBS at {self.url} does not speak obs-websocket RPC version 1.",
                               fix="Use OBS 28 or later (obs-websocket 5).") from None
            raise ObsError(f"OBS at {self.url} closed the connection during the handshake (code {code}).",
                           fix="Check the websocket server settings in OBS (Tools -> WebSocket Server Settings).") from None
        except ObsError:
            ws.close()
            raise
        except (TimeoutError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:  # not obs-websocket
            ws.close()
            raise ObsError(f"OBS at {self.url} did not complete the handshake ({e}).",
                           fix="Check that the address is OBS's websocket server (default port 4455).") from None
        self._ws = ws
        try:
            self.version = self.call("GetVersion")
        except ObsError:
            if self._ws is None:  # the connection is gone (or the server is no obs-websocket): say so now
                raise
            self.version = {}
        return self

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def _recv(self, ws) -> dict:
        raw = ws.recv(timeout=self.timeout)
        msg = json.loads(raw)
        if not isinstance(msg, dict):
            raise ValueError("a message that is not a JSON object")
        return msg

    def call(self, request_type: str, data: dict | None = None) -> dict:
        """Send one request and return its ``responseData`` (``{}`` when none).

        Raises :class:`ObsError` when OBS answers with a failure (its code and
        comment), or when the connection is gone.
        """
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        if ws is None:
            raise ObsError(f"Not connected to OBS at {self.url}.", fix="Call connect() first.")
        rid = str(next(self._ids))
        payload = {"op": 6, "d": {"requestType": request_type, "requestId": rid, "requestData": data or {}}}
        with self._lock:
            try:
                ws.send(json.dumps(payload))
                while True:
                    msg = self._recv(ws)
                    d = msg.get("d")
                    if msg.get("op") == 7 and isinstance(d, dict) and d.get("requestId") == rid:
                        break
            except (ConnectionClosed, OSError, TimeoutError) as e:
                self._drop()
                raise ObsError(f"Lost the connection to OBS at {self.url} during {request_type} ({type(e).__name__}).",
                               fix="Check that OBS is still running.") from None
            except ValueError as e:  # not JSON, not an object: this is not obs-websocket talking
                self._drop()
                raise ObsError(f"The server at {self.url} answered {request_type} with something that is not "
                               f"obs-websocket ({e}).", fix="Check that the address is OBS's websocket server "
                                                            "(Tools -> WebSocket Server Settings).") from None
        d = msg.get("d")
        status = d.get("requestStatus") if isinstance(d, dict) else None
        if not isinstance(status, dict):
            self._drop()
            raise ObsError(f"The server at {self.url} answered {request_type} without a request status.",
                           fix="Check that the address is OBS's websocket server (obs-websocket 5).")
        if not status.get("result"):
            raise ObsError(f"OBS refused {request_type}: code {status.get('code')} {status.get('comment', '')}".rstrip(" .")
                           + ".", fix="See the obs-websocket protocol reference for this request.")
        data = d.get("responseData")
        return data if isinstance(data, dict) else {}

    def _drop(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass

    def close(self) -> None:
        """Close the connection; idempotent."""
        self._drop()

    def __enter__(self) -> "ObsClient":
        if not self.connected:
            self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
