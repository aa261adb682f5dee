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
  runs it on a normal end, Ctrl+C and SIGTERM;
* a run killed before it could restore (``kill -9``, a power cut) must not
  make the next run take livestyle's offset for the user's: while an offset
  is applied, a small record ``{user_offset_ms, applied_offset_ms}`` per OBS
  address and mic is kept in ``obs-offsets.json`` (see :func:`default_state_path`);
  the next run that finds the mic still at the recorded applied value takes the
  recorded user offset as the user's.  A clean close removes the record.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from pathlib import Path

from livestyle.fsutil import KeyedRecord
from livestyle.obs.client import DEFAULT_URL, ObsAuthError, ObsClient, ObsError, normalise_url

log = logging.getLogger(__name__)

MIN_CHANGE_INTERVAL_S = 1.0
RECONNECT_INTERVAL_S = 5.0


def default_state_path() -> Path:
    """``obs-offsets.json`` in livestyle's state folder (:func:`livestyle.fsutil.state_path`)."""
    from livestyle.fsutil import state_path

    return state_path("obs-offsets.json")


class ObsLink:
    """Keeps OBS's mic sync offset equal to the user's offset + livestyle's measured delay.

    ``url`` is OBS's websocket (``ws://127.0.0.1:4455``); ``password`` falls
    back to ``LIVESTYLE_OBS_PASSWORD``; ``mic`` names the OBS audio input to
    delay (None: connect only, e.g. for the state/summary); ``frame_interval_s``
    is the output's frame interval, the smallest delay change worth applying.
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
        self._error: str | None = None
        self._warned = False
        self._user_offset_ms: int | None = None
        self._applied_offset_ms: int | None = None
        self._applied_delay_s: float | None = None
        self._delay_s: float | None = None
        self._last_change = -math.inf
        self._changes = 0
        self._restored = False
        self._record = KeyedRecord(Path(state_path) if state_path else default_state_path(), f"{self.url}|{mic}")

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
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._stop = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        client = self._client
        if self.mic and self._applied_offset_ms is not None and self._user_offset_ms is not None:
            self._restore(client)
        if client is not None:
            client.close()
        with self._lock:
            self._connected = False

    def _restore(self, client: ObsClient | None) -> None:
        """Put the user's offset back: on the link's connection, else (it dropped) on one fresh connection."""
        args = {"inputName": self.mic, "inputAudioSyncOffset": int(self._user_offset_ms)}
        error = "not connected"
        for fresh in (False, True):
            if not fresh and (client is None or not client.connected):
                continue
            c = ObsClient(self.url, self.password, timeout=3.0) if fresh else client
            try:
                if fresh:
                    c.connect()
                c.call("SetInputAudioSyncOffset", args)
            except ObsError as e:
                error = e.message
                continue
            finally:
                if fresh:
                    c.close()
            with self._lock:
                self._restored = True
            self._record.put(None)
            log.info("OBS: restored %r sync offset to %d ms", self.mic, self._user_offset_ms)
            return
        log.warning("OBS: could not put the sync offset of %r back to %d ms (%s); set it back by hand in OBS "
                    "(Edit -> Advanced Audio Properties), or the next livestyle run with --obs does it.",
                    self.mic, self._user_offset_ms, error)

    def state(self) -> dict:
        """A snapshot for the summary, the report and the control API.

        ``applied_offset_ms`` is the last offset livestyle set (kept after
        :meth:`close` for the summary); ``restored`` says the user's own
        ``user_offset_ms`` was put back; ``delay_ms`` is the last delay given
        to :meth:`update_delay`; ``changes`` counts offsets set.
        """
        with self._lock:
            return {
                "connected": self._connected,
                "url": self.url,
                "mic": self.mic,
                "user_offset_ms": self._user_offset_ms,
                "applied_offset_ms": self._applied_offset_ms,
                "delay_ms": None if self._delay_s is None else round(self._delay_s * 1000, 1),
                "changes": self._changes,
                "restored": self._restored,
                "error": self._error,
            }

    def __enter__(self) -> "ObsLink":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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

    def _connect(self) -> bool:
        client = ObsClient(self.url, self.password, timeout=3.0)
        try:
            client.connect()
            if self.mic and self._user_offset_ms is None:
                try:
                    r = client.call("GetInputAudioSyncOffset", {"inputName": self.mic})
                except ObsError:
                    names = self._audio_inputs(client)
                    client.close()
                    listed = ", ".join(repr(n) for n in names) or "none"
                    self._warn_once(f"OBS has no audio input named {self.mic!r} (inputs: {listed}). "
                                    "Pass --obs-mic with the name shown in OBS's Audio Mixer.")
                    with self._lock:
                        self._stop = True  # a wrong name does not fix itself
                    return False
                current = int(r.get("inputAudioSyncOffset", 0))
                rec = self._record.get()
                if rec and rec.get("applied_offset_ms") == current and isinstance(rec.get("user_offset_ms"), int):
                    log.warning("OBS link: %r is still at %d ms from a livestyle run that did not end cleanly; "
                                "your own offset is taken as %d ms and will be put back.", self.mic, current,
                                rec["user_offset_ms"])
                    current = rec["user_offset_ms"]
                else:
                    self._record.put(None)  # stale: the user changed the offset since
                with self._lock:
                    self._user_offset_ms = current
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
        next_connect = 0.0
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
                        continue
                with self._wake:
                    if not self._stop:
                        self._wake.wait(timeout=max(0.05, next_connect - time.monotonic()))
                continue
            with self._wake:
                apply, wait = self._due_change(time.monotonic())
                if not apply:
                    self._wake.wait(timeout=wait if wait > 0 else 1.0)
                    continue
                delay_s = self._delay_s
                offset_ms = int(round(self._user_offset_ms + delay_s * 1000))
                client = self._client
            # recorded first: a run killed right after the change still tells the next one the user's offset
            self._record.put({"user_offset_ms": int(self._user_offset_ms), "applied_offset_ms": offset_ms,
                              "time": time.time()})
            try:
                client.call("SetInputAudioSyncOffset", {"inputName": self.mic, "inputAudioSyncOffset": offset_ms})
            except ObsError as e:
                with self._lock:
                    self._connected = False
                client.close()
                self._warn_once(f"lost OBS at {self.url} ({e.message}); retrying every {RECONNECT_INTERVAL_S:.0f} s.")
                next_connect = time.monotonic() + RECONNECT_INTERVAL_S
                continue
            with self._lock:
                self._applied_offset_ms = offset_ms
                self._applied_delay_s = delay_s
                self._last_change = time.monotonic()
                self._changes += 1
            log.info("OBS link: %r sync offset -> %d ms (delay %.1f ms)", self.mic, offset_ms, delay_s * 1000)
