"""A real MJPEG-over-HTTP server on 127.0.0.1 for live-source tests.

It speaks what IP cameras and phone webcam apps speak: one ``GET`` answered
with ``Content-Type: multipart/x-mixed-replace; boundary=...`` and then an
endless series of JPEG parts, sent in real time at ``fps``.  Each frame is
:func:`tests.support.videos.make_test_frame` of a *clock index*, the number
of frame intervals since the server object was created, so indices keep
increasing across :meth:`MjpegServer.restart` and a test can tell fresh
frames from stale ones with :func:`tests.support.videos.decode_index`.

:meth:`MjpegServer.stop` closes the listening socket *and* every open
connection, so a client sees the stream die exactly like a camera that lost
power; :meth:`MjpegServer.restart` listens again on the same port.
"""

from __future__ import annotations

import socket
import threading
import time

import cv2

from tests.support.videos import make_test_frame

BOUNDARY = "livestyleframe"


class MjpegServer:
    """MJPEG stream at ``url`` (``http://127.0.0.1:PORT/stream.mjpg``).

    ``size`` is (width, height) of the frames, ``fps`` their rate, ``port`` 0
    picks a free port at the first :meth:`start` and keeps it afterwards.
    Other paths answer 404.  ``connections`` counts accepted stream clients
    (a reconnecting client makes it grow).  Use as a context manager or call
    :meth:`start` / :meth:`stop`.
    """

    def __init__(self, *, size: tuple[int, int] = (320, 240), fps: float = 30.0, port: int = 0,
                 path: str = "/stream.mjpg", jpeg_quality: int = 85):
        self.size = size
        self.fps = float(fps)
        self.port = port
        self.path = path
        self.jpeg_quality = jpeg_quality
        self.connections = 0
        self._t_epoch = time.perf_counter()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._running = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def clock_index(self) -> int:
        """The index of the frame the server would send now."""
        return int((time.perf_counter() - self._t_epoch) * self.fps)

    def start(self) -> "MjpegServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        self._spawn(self._accept_loop, listener)
        return self

    def stop(self) -> None:
        """Close the listening socket and every client connection; wait for the threads."""
        self._running.clear()
        with self._lock:
            listener, self._listener = self._listener, None
            clients, self._clients = list(self._clients), set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)

    def restart(self) -> None:
        """Stop, then listen again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> "MjpegServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="mjpeg-server")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._running.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if not self._running.is_set():
                    client.close()
                    return
                self._clients.add(client)
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        try:
            request = b""
            client.settimeout(5)
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            parts = request.split(b"\r\n", 1)[0].split()
            if len(parts) < 2 or parts[0] != b"GET" or parts[1].decode("latin-1").split("?")[0] != self.path:
                client.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            with self._lock:
                self.connections += 1
            client.sendall((
                "HTTP/1.0 200 OK\r\n"
                "Cache-Control: no-cache\r\n"
                "Connection: close\r\n"
                f"Content-Type: multipart/x-mixed-replace; boundary={BOUNDARY}\r\n\r\n").encode())
            interval = 1.0 / self.fps
            while self._running.is_set():
                index = self.clock_index()
                ok, jpeg = cv2.imencode(".jpg", make_test_frame(index, self.size),
                                        [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
                if not ok:
                    return
                data = jpeg.tobytes()
                client.sendall((f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                f"Content-Length: {len(data)}\r\n\r\n").encode() + data + b"\r\n")
                next_time = self._t_epoch + (index + 1) * interval
                delay = next_time - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
        except OSError:
            return
        finally:
            with self._lock:
                self._clients.discard(client)
            try:
                client.close()
            except OSError:
                pass


class SilentServer:
    """A TCP listener on 127.0.0.1 that accepts connections and never answers.

    Models a host whose server hangs; ``url`` is an http URL pointing at it.
    ``port`` 0 picks a free port; pass a port to take over one that an
    :class:`MjpegServer` just released.
    """

    def __init__(self, *, port: int = 0):
        self._listener: socket.socket | None = None
        self._clients: list[socket.socket] = []
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream.mjpg"

    def start(self) -> "SilentServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._running.set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name="silent-server")
        self._thread.start()
        return self

    def _accept_loop(self) -> None:
        while self._running.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._clients.append(client)  # held open, never read from or written to

    def stop(self) -> None:
        self._running.clear()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        for client in self._clients:
            client.close()
        self._clients = []
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SilentServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound then released)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port
