"""Automatic lip-sync: keep the microphone's audio sync offset in OBS equal to the user's own offset plus livestyle's delay.

livestyle delays the picture (capture -> send, plus the sink's own delay), so
the voice runs ahead of the lips.  OBS's per-input "Sync Offset" delays an
audio input; :class:`ObsLink` sets it on the named microphone input to
``user_offset + delay`` and puts the user's own value back on exit.

Rules (issue: "Inside OBS for real"):

* change the offset only when the delay moved by more than one frame interval
  since the value applied last, and at most once per second (a pending change
  is applied when the second is up);
* never block the pipeline: :meth:`ObsLink.update_delay` stores the number and
  returns; a worker thread talks to OBS;
* never stop the stream: connection and password problems log ONE warning
  line with the fix, and :meth:`state` says ``connected: False``;
* :meth:`ObsLink.close` restores the user's offset (idempotent); the caller
  runs it on a normal end, Ctrl+C and SIGTERM.  It ends within
  :data:`CLOSE_BUDGET_S` (3 s) even when OBS hangs (requests time out after
  :data:`REQUEST_TIMEOUT_S`);
* what the summary, the warning and the report say about putting the user's
  offset back agree: ``restored`` is True only when OBS confirmed it, and
  otherwise ``restore_error`` says why (see :func:`summary_line`);
* livestyle must never take a value it applied itself for the user's own, in
  any order of crashes (livestyle killed, OBS killed after saving an offset
  livestyle had set, both, OBS restarting mid-run once or twice).  A small
  record per OBS instance and mic is kept in ``obs-offsets.json`` (see
  :func:`default_state_path`): the user's offset and every offset livestyle
  applied to that mic (``{user_offset_ms, applied_offsets_ms}``).  It is written before each
  change and kept after a clean restore (OBS may crash before it saves the
  restored value).  Whenever the link reads the mic's offset (on connect, on
  reconnect, and every few seconds while linked), a value that is the user's
  or one livestyle applied means "the user's offset is the recorded one"; any
  other value was set by the user, and becomes the user's offset;
* the record is keyed by the OBS instance, not the URL's text:
  :func:`instance_key` resolves the host (``localhost``, ``127.0.0.1``,
  ``[::1]`` and this machine's own addresses are one key) and keeps the port.
  obs-websocket 5.1 (OBS 29) reports nothing stable about itself: GetVersion
  gives versions and the platform only, inputs have no UUID before 5.5, and an
  id stored with SetPersistentData is lost when OBS crashes (measured: OBS 29
  had not written it after a SIGKILL), which is exactly when it is needed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from livestyle.fsutil import KeyedRecord
from livestyle.obs.client import DEFAULT_URL, ObsAuthError, ObsClient, ObsError, normalise_url

log = logging.getLogger(__name__)

MIN_CHANGE_INTERVAL_S = 1.0
RECONNECT_INTERVAL_S = 5.0
REQUEST_TIMEOUT_S = 2.0  # one request (or a connection's handshake) to OBS
CLOSE_BUDGET_S = 3.0  # close() (stop the worker, put the user's offset back) ends within this, even when OBS hangs
VERIFY_INTERVAL_S = 3.0  # while linked, read the mic's offset this often: did OBS restart, did the user change it?
MAX_APPLIED_KEPT = 64  # offsets remembered per mic (distinct values, newest last)
FIX_BY_HAND = "set it back by hand in OBS (Edit -> Advanced Audio Properties -> Sync Offset)"


def default_state_path() -> Path:
    """``obs-offsets.json`` in livestyle's state folder (:func:`livestyle.fsutil.state_path`)."""
    from livestyle.fsutil import state_path

    return state_path("obs-offsets.json")


def _is_own_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for loopback, the wildcard, and any address of this machine (one it can bind)."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback or addr.is_unspecified:
        return True
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((str(addr), 0))
        return True
    except OSError:
        return False


def instance_key(url: str) -> str:
    """Which OBS ``url`` reaches, as ``HOST:PORT`` with the host resolved: the key of its offset record.

    ``ws://localhost:P``, ``ws://127.0.0.1:P``, ``ws://[::1]:P`` and this
    machine's own addresses are all ``local:P``; another host becomes its
    (first, sorted) IP address, so a name and its address are one key; a name
    that does not resolve stays the name, lower-cased.
    """
    parts = urlsplit(normalise_url(url))
    host = (parts.hostname or "").lower()
    port = parts.port or 4455
    if host == "localhost" or host.endswith(".localhost"):
        return f"local:{port}"
    try:
        addrs = [ipaddress.ip_address(host.split("%")[0])]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
            addrs = sorted({ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos},
                           key=lambda a: (a.version, int(a)))
        except (OSError, ValueError):
            return f"{host}:{port}"
    if addrs and all(_is_own_address(a) for a in addrs):
        return f"local:{port}"
    return f"{addrs[0]}:{port}" if addrs else f"{host}:{port}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_record(rec) -> tuple[int, list[int]] | None:
    """(user offset, offsets livestyle applied) from a stored record, or None when it is not a valid one.

    Accepts the earlier form ``{user_offset_ms, applied_offset_ms}`` (one applied value).
    """
    if not isinstance(rec, dict):
        return None
    user = rec.get("user_offset_ms")
    applied = rec.get("applied_offsets_ms")
    if applied is None and _is_int(rec.get("applied_offset_ms")):
        applied = [rec["applied_offset_ms"]]
    if not _is_int(user) or not isinstance(applied, list) or not all(_is_int(a) for a in applied):
        return None
    return int(user), [int(a) for a in applied]


def summary_line(state: dict | None) -> str | None:
    """The run summary's OBS line for :meth:`ObsLink.state`; it says "restored" only when OBS confirmed it."""
    if not state:
        return None
    mic, user, applied = state.get("mic"), state.get("user_offset_ms"), state.get("applied_offset_ms")
    if state.get("restore_error"):
        done = (f"sync offset {applied} ms applied, {state.get('changes', 0)} changes" if applied is not None
                else "sync offset left from an earlier run")
        return (f"OBS: mic {mic!r} {done}; NOT restored ({state['restore_error']}): {FIX_BY_HAND} to your "
                f"{user} ms, or run livestyle with --obs again")
    if applied is not None:
        tail = "restored" if state.get("restored") else "not restored"
        return (f"OBS: mic {mic!r} sync offset {applied} ms applied (yours: {user} ms, {tail}), "
                f"{state.get('changes', 0)} changes")
    if mic and user is not None:
        note = ", restored" if state.get("restored") else ""
        return f"OBS: mic {mic!r} sync offset not changed (yours: {user} ms{note})"
    if state.get("error"):
        return f"OBS: not linked ({state['error']})"
    if state.get("connected") or state.get("linked"):
        return f"OBS: linked at {state.get('url')}"
    return None


class ObsLink:
    """Keeps OBS's mic sync offset equal to the user's offset + livestyle's measured delay.

    ``url`` is OBS's websocket (``ws://127.0.0.1:4455``; a malformed one raises
    :class:`~livestyle.errors.UsageError` here, before anything starts);
    ``password`` falls back to ``LIVESTYLE_OBS_PASSWORD``; ``mic`` names the
    OBS audio input to delay (None: connect only, e.g. for the state/summary);
    ``frame_interval_s`` is the output's frame interval, the smallest delay
    change worth applying.  ``update_delay`` takes livestyle's own delay (the
    pipeline's capture -> send plus the sink's encode), never a viewer's.
    """

    def __init__(self, url: str = DEFAULT_URL, password: str | None = None, mic: str | None = None,
                 *, frame_interval_s: float = 1 / 30, state_path: str | os.PathLike | None = None):
        self.url = normalise_url(url)
        self.password = password
        self.mic = mic or None
        self.frame_interval_s = float(frame_interval_s) if frame_interval_s and frame_interval_s > 0 else 1 / 30
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._client: ObsClient | None = None
        self._thread: threading.Thread | None = None
        self._stop = False
        self._closed = False
        self._connected = False
        self._linked = False  # connected at least once
        self._error: str | None = None
        self._warned = False
        self._user_offset_ms: int | None = None
        self._applied_offset_ms: int | None = None  # the last offset this run set (kept for the summary)
        self._applied_delay_s: float | None = None
        self._seen_offset_ms: int | None = None  # OBS's value as last read or set: what close() must undo
        self._history: list[int] = []  # every offset livestyle applied to this mic, this run and earlier ones
        self._delay_s: float | None = None
        self._last_change = -math.inf
        self._changes = 0
        self._restored = False
        self._restore_error: str | None = None
        self._state_path = Path(state_path) if state_path else default_state_path()
        self._record: KeyedRecord | None = None  # keyed by the OBS instance: made in the worker (may resolve a name)

    # -- public API -------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in a background thread; never raises for connection or password problems."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="obs-link", daemon=True)
            self._thread.start()

    def update_delay(self, delay_s: float) -> None:
        """Record livestyle's current delay in seconds (non-blocking; the worker applies it under the rules)."""
        try:
            d = float(delay_s)
        except (TypeError, ValueError):
            return
        if not math.isfinite(d) or d < 0:
            return
        with self._wake:
            self._delay_s = d
            self._wake.notify_all()

    def close(self) -> None:
        """Stop the worker, put the user's own offset back, disconnect; idempotent and never raises."""
        deadline = time.monotonic() + CLOSE_BUDGET_S
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._stop = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            # its requests take milliseconds; one still running after a second is stuck on an OBS that hangs
            thread.join(timeout=1.0)
        client = self._client
        if thread is not None and thread.is_alive():
            client = None  # still inside a request on that connection (OBS hangs?): restore on a fresh one
        if self.mic and self._user_offset_ms is not None and (
                self._applied_offset_ms is not None or self._seen_offset_ms != self._user_offset_ms):
            self._restore(client, deadline)
        if self._client is not None:
            self._client.close()
        with self._lock:
            self._connected = False

    def _restore(self, client: ObsClient | None, deadline: float) -> None:
        """Put the user's offset back: on the link's connection, else (it dropped) on one fresh connection.

        Gives up at ``deadline`` (monotonic): an OBS that hangs must not hold the end of the run.
        """
        args = {"inputName": self.mic, "inputAudioSyncOffset": int(self._user_offset_ms)}
        error = "not connected"
        for fresh in (False, True):
            if not fresh and (client is None or not client.connected):
                continue
            left = deadline - time.monotonic()
            if left < 0.2:
                error = f"{error}; no time left to try again"
                break
            c = ObsClient(self.url, self.password, timeout=min(REQUEST_TIMEOUT_S, left)) if fresh else client
            c.timeout = min(REQUEST_TIMEOUT_S, left)
            try:
                if fresh:
                    c.connect()
                c.call("SetInputAudioSyncOffset", args)
            except ObsError as e:
                error = e.message.rstrip(".")
                continue
            except OSError as e:  # the socket died under the call: the same as any other failure to restore
                error = f"{type(e).__name__}: {e}"
                continue
            finally:
                if fresh:
                    c.close()
            with self._lock:
                self._restored = True
                self._restore_error = None
                self._seen_offset_ms = self._user_offset_ms
            # the record stays: OBS may crash before it saves the restored value, and then comes back with one
            # livestyle applied; the next run must still know that value is not the user's
            log.info("OBS: restored %r sync offset to %d ms", self.mic, self._user_offset_ms)
            return
        with self._lock:
            self._restore_error = error
        log.warning("OBS: could not put the sync offset of %r back to %d ms (%s); %s, or the next livestyle run "
                    "with --obs does it.", self.mic, self._user_offset_ms, error, FIX_BY_HAND)

    def state(self) -> dict:
        """A snapshot for the summary, the report and the control API.

        ``applied_offset_ms`` is the last offset livestyle set (kept after
        :meth:`close` for the summary); ``restored`` says OBS confirmed the
        user's own ``user_offset_ms`` was put back, else ``restore_error``
        says why it could not be (None when nothing needed restoring);
        ``delay_ms`` is the last delay given to :meth:`update_delay`;
        ``changes`` counts offsets set; ``instance`` is the OBS the offset
        record is kept for (:func:`instance_key`).
        """
        with self._lock:
            return {
                "connected": self._connected,
                "linked": self._linked,
                "url": self.url,
                "instance": self._record.key.split("|", 1)[0] if self._record is not None else None,
                "mic": self.mic,
                "user_offset_ms": self._user_offset_ms,
                "applied_offset_ms": self._applied_offset_ms,
                "delay_ms": None if self._delay_s is None else round(self._delay_s * 1000, 1),
                "changes": self._changes,
                "restored": self._restored,
                "restore_error": self._restore_error,
                "error": self._error,
            }

    def __enter__(self) -> "ObsLink":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the offset record --------------------------------------------------------------------------
    def _open_record(self) -> KeyedRecord:
        """The record for this OBS instance and mic; a state file that is not JSON is moved aside (with a warning)."""
        if self._record is None:
            path = self._state_path
            try:
                text = path.read_text()
            except OSError:
                text = None
            if text is not None:
                try:
                    ok = isinstance(json.loads(text), dict)
                except ValueError:
                    ok = False
                if not ok:
                    aside = path.with_name(f"{path.name}.broken-{int(time.time())}")
                    try:
                        os.replace(path, aside)
                        where = f"moved to {aside}"
                    except OSError as e:
                        where = f"could not be moved aside ({e.strerror or e})"
                    log.warning("OBS link: %s is not a JSON object (%s); livestyle starts a new one. If a run was "
                                "killed while it had changed a mic's sync offset, check that offset in OBS.",
                                path, where)
            self._record = KeyedRecord(path, f"{instance_key(self.url)}|{self.mic}")
        return self._record

    def _load_record(self) -> tuple[int, list[int]] | None:
        record = self._open_record()
        raw = record.get()
        if raw is None:  # a record kept by an earlier livestyle under the URL's text
            legacy = KeyedRecord(record.path, f"{self.url}|{self.mic}")
            raw = legacy.get()
            if raw is not None:
                legacy.put(None)
        return _parse_record(raw)

    def _save_record(self) -> None:
        self._open_record().put({"user_offset_ms": int(self._user_offset_ms),
                                 "applied_offsets_ms": list(self._history), "time": round(time.time(), 3)})

    def _reconcile(self, current: int) -> None:
        """Decide what OBS's value ``current`` of the mic's offset means (worker thread, after reading it).

        First read of the run: the record says whether ``current`` is the
        user's (it is unless it is one livestyle applied).  Later reads: our
        own last value means nothing changed; the user's or another applied
        one means OBS lost our value (it restarted from a saved one), so it is
        applied again; anything else was set by the user and becomes theirs.
        """
        with self._lock:
            user, mine = self._user_offset_ms, self._applied_offset_ms
            self._seen_offset_ms = current
        if user is None:
            rec = self._load_record()
            if rec is not None and (current == rec[0] or current in rec[1]):
                user, self._history = rec[0], rec[1][-MAX_APPLIED_KEPT:]
                if current != user:
                    log.warning("OBS link: %r is at %d ms, an offset livestyle set in a run that did not end "
                                "cleanly (or that OBS kept); your own offset is taken as %d ms and will be put back.",
                                self.mic, current, user)
            else:
                if rec is not None:
                    log.info("OBS link: %r is at %d ms, not an offset livestyle set: that is your own now.",
                             self.mic, current)
                # the values livestyle applied stay known: OBS may still come back with one it saved earlier
                user, self._history = current, (rec[1][-MAX_APPLIED_KEPT:] if rec is not None else [])
            with self._lock:
                self._user_offset_ms = user
            self._save_record()
            return
        if current == mine or (mine is None and current == user):
            return
        if current == user or current in self._history:
            if mine is not None:
                log.info("OBS link: %r is at %d ms, not the %d ms livestyle set (OBS restarted?); setting it again.",
                         self.mic, current, mine)
        else:
            log.info("OBS link: %r sync offset was changed to %d ms in OBS: taken as your own offset.",
                     self.mic, current)
            with self._lock:
                self._user_offset_ms = current
            self._save_record()  # the applied values stay known (see above)
        with self._lock:
            self._applied_delay_s = None  # apply again at once, whatever the delay did meanwhile
            self._last_change = -math.inf

    # -- worker -----------------------------------------------------------------------------------
    def _warn_once(self, message: str) -> None:
        with self._lock:
            self._error = message
            first = not self._warned
            self._warned = True
        if first:
            log.warning("OBS link: %s The stream goes on without lip-sync.", message)
        else:
            log.debug("OBS link: %s", message)

    def _read_offset(self, client: ObsClient) -> int:
        r = client.call("GetInputAudioSyncOffset", {"inputName": self.mic})
        return int(r.get("inputAudioSyncOffset", 0))

    def _lost(self, client: ObsClient, e: ObsError) -> None:
        with self._lock:
            self._connected = False
        client.close()
        self._warn_once(f"lost OBS at {self.url} ({e.message}); retrying every {RECONNECT_INTERVAL_S:.0f} s.")

    def _connect(self) -> bool:
        client = ObsClient(self.url, self.password, timeout=REQUEST_TIMEOUT_S)
        try:
            client.connect()
            if self.mic:
                try:
                    current = self._read_offset(client)
                except ObsError:
                    if not client.connected:
                        raise
                    names = self._audio_inputs(client)
                    client.close()
                    listed = ", ".join(repr(n) for n in names) or "none"
                    self._warn_once(f"OBS has no audio input named {self.mic!r} (inputs: {listed}). "
                                    "Pass --obs-mic with the name shown in OBS's Audio Mixer.")
                    with self._lock:
                        self._stop = True  # a wrong name does not fix itself
                    return False
                self._reconcile(current)
        except ObsError as e:
            client.close()
            self._warn_once(str(e))
            if isinstance(e, ObsAuthError):
                with self._lock:
                    self._stop = True  # a wrong password does not fix itself
            return False
        with self._lock:
            self._client = client
            self._connected = True
            self._linked = True
            self._error = None
        log.info("OBS link: connected to %s (OBS %s)%s", self.url, client.version.get("obsVersion", "?"),
                 f", mic {self.mic!r} user offset {self._user_offset_ms} ms" if self.mic else "")
        return True

    @staticmethod
    def _audio_inputs(client: ObsClient) -> list[str]:
        try:
            inputs = client.call("GetInputList").get("inputs", [])
        except ObsError:
            return []
        return [i.get("inputName", "") for i in inputs]

    def _due_change(self, now: float) -> tuple[bool, float]:
        """(apply now?, seconds to wait before the rules may allow it). Call with the lock held."""
        if self._delay_s is None or not self.mic or self._user_offset_ms is None:
            return False, 1.0
        if self._applied_delay_s is not None and abs(self._delay_s - self._applied_delay_s) <= self.frame_interval_s:
            return False, 1.0
        wait = self._last_change + MIN_CHANGE_INTERVAL_S - now
        return (wait <= 0), max(wait, 0.0)

    def _run(self) -> None:
        try:
            self._work()
        except Exception as e:  # noqa: BLE001 - a bug or a strange server must not end in a thread traceback
            log.debug("OBS link worker failed", exc_info=True)
            self._warn_once(f"the link to OBS stopped ({type(e).__name__}: {e}).")
            with self._lock:
                self._connected = False

    def _work(self) -> None:
        next_connect = 0.0
        next_verify = 0.0
        while True:
            with self._wake:
                if self._stop:
                    return
                connected = self._connected
            if not connected:
                now = time.monotonic()
                if now >= next_connect:
                    next_connect = now + RECONNECT_INTERVAL_S
                    if self._connect():
                        next_verify = time.monotonic() + VERIFY_INTERVAL_S
                        continue
                with self._wake:
                    if not self._stop:
                        self._wake.wait(timeout=max(0.05, next_connect - time.monotonic()))
                continue
            client = self._client
            if self.mic and time.monotonic() >= next_verify:
                next_verify = time.monotonic() + VERIFY_INTERVAL_S
                try:
                    current = self._read_offset(client)
                except ObsError as e:
                    if not client.connected:
                        self._lost(client, e)
                        next_connect = time.monotonic() + RECONNECT_INTERVAL_S
                    continue
                self._reconcile(current)
            with self._wake:
                apply, wait = self._due_change(time.monotonic())
                if not apply:
                    until_verify = max(0.05, next_verify - time.monotonic()) if self.mic else 1.0
                    self._wake.wait(timeout=min(wait if wait > 0 else 1.0, until_verify))
                    continue
                delay_s = self._delay_s
                offset_ms = int(round(self._user_offset_ms + delay_s * 1000))
            # recorded first, with every value applied before: a run killed right after the change, or an OBS
            # that saved any of them and crashed, still leaves the next run the user's offset
            if offset_ms not in self._history:
                self._history = (self._history + [offset_ms])[-MAX_APPLIED_KEPT:]
                self._save_record()
            try:
                client.call("SetInputAudioSyncOffset", {"inputName": self.mic, "inputAudioSyncOffset": offset_ms})
            except ObsError as e:
                if client.connected:  # OBS refused the value (e.g. out of its range): keep the link, do not retry
                    self._warn_once(f"OBS refused the sync offset {offset_ms} ms for {self.mic!r} ({e.message}).")
                    with self._lock:
                        self._applied_delay_s = delay_s
                        self._last_change = time.monotonic()
                    continue
                self._lost(client, e)
                next_connect = time.monotonic() + RECONNECT_INTERVAL_S
                continue
            with self._lock:
                self._applied_offset_ms = offset_ms
                self._applied_delay_s = delay_s
                self._seen_offset_ms = offset_ms
                self._last_change = time.monotonic()
                self._changes += 1
            log.info("OBS link: %r sync offset -> %d ms (delay %.1f ms)", self.mic, offset_ms, delay_s * 1000)
