"""Competing loads for ``livestyle bench --load``: real processes started and stopped by the benchmark.

* ``busy:N`` — N processes, each pinned to one CPU (``os.sched_setaffinity``)
  and spinning in pure Python: a game or a compile taking whole cores.
  They take the *last* N CPUs this process may use.
* ``encode`` — one process encoding 1280x720 at 30 fps to H.264 with
  libx264 (preset veryfast, the default of OBS's x264 encoder), paced in
  real time like a stream or a recording.  libx264 is called through ctypes
  (``libx264.so``, present wherever OBS or FFmpeg is installed); the frames
  are the demo scene converted to I420 once.  Without libx264 it falls back
  to OpenCV's MPEG-4 Part 2 encoder (``mp4v``), which is cheaper; the
  :attr:`Load.description` says which one ran.

A load runs as ``python -m livestyle.bench.load busy CPU`` or ``... encode
WxH FPS`` in its own process group; :meth:`Load.stop` terminates it (SIGTERM,
then SIGKILL after 2 s).  Use a load as a context manager so it stops on
every way out, Ctrl+C included.  Should the benchmark itself die without
cleaning up (SIGKILL), the children notice: on Linux the kernel sends them
SIGTERM (``PR_SET_PDEATHSIG``), elsewhere they see their parent change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time

from livestyle.errors import UsageError

log = logging.getLogger(__name__)

LOAD_KINDS = ("busy:N", "encode")


def parse_load(spec: str | None) -> tuple[str, int] | None:
    """``None``/``"none"`` -> None; ``"busy:N"`` -> ("busy", N); ``"encode"`` -> ("encode", 1); else UsageError."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return None
    s = spec.strip().lower()
    if s == "encode":
        return "encode", 1
    if s.startswith("busy"):
        count = s[5:] if s.startswith("busy:") else ("1" if s == "busy" else "")
        if count.isdigit() and int(count) >= 1:
            n = int(count)
            available = len(_cpus())
            if n > available:
                raise UsageError(f"--load {spec}: this process may use {available} CPUs, so at most busy:{available}.",
                                 fix=f"Use --load busy:1 .. busy:{available}.")
            return "busy", n
    raise UsageError(f"--load {spec!r} is not a load I can start.", fix="Use --load busy:1, busy:2 or encode.")


def _cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return list(range(os.cpu_count() or 1))


class Load:
    """The running competing load: one or more child processes; :meth:`stop` ends them (idempotent)."""

    def __init__(self, kind: str, count: int = 1):
        self.kind, self.count = kind, count
        self.processes: list[subprocess.Popen] = []
        self.description = ""

    def start(self) -> "Load":
        cmd = [sys.executable, "-m", "livestyle.bench.load"]
        if self.kind == "busy":
            cpus = _cpus()[-self.count:]
            for cpu in cpus:
                self.processes.append(subprocess.Popen(cmd + ["busy", str(cpu)], stdin=subprocess.DEVNULL,
                                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                       start_new_session=True))
            self.description = (f"{self.count} busy process{'es' if self.count > 1 else ''} pinned to "
                                f"CPU {', '.join(map(str, cpus))} (pure-Python spin loop)")
        elif self.kind == "encode":
            proc = subprocess.Popen(cmd + ["encode", "1280x720", "30"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    start_new_session=True)
            self.processes.append(proc)
            line = proc.stdout.readline().strip() if proc.stdout else ""  # the child names its encoder
            if proc.poll() is not None and not line:
                raise RuntimeError("the encode load exited at once")
            self.description = f"video encode of 1280x720 at 30 fps in a second process: {line or 'unknown encoder'}"
        else:
            raise ValueError(f"unknown load kind {self.kind!r}")
        log.info("started load: %s", self.description)
        return self

    def alive(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        processes, self.processes = self.processes, []
        for p in processes:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 2.0
        for p in processes:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()
        if processes:
            log.info("stopped load: %s", self.description)

    def __enter__(self) -> "Load":
        return self.start() if not self.processes else self

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------- the child processes


def _die_with_parent() -> int:
    """Ask the kernel for SIGTERM when the parent exits (Linux); returns the parent's pid to watch as well."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    return parent


def _busy(cpu: int, parent: int) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    x = 0
    while os.getppid() == parent:  # pure CPU work, no memory traffic to speak of
        for i in range(100_000):
            x = (x * 1103515245 + i) & 0xFFFFFFFF


class X264:
    """A libx264 encoder through ctypes: I420 frames in, H.264 bytes counted and dropped.

    Only ``x264_param_default_preset``, ``x264_param_parse``,
    ``x264_encoder_open_<build>``, ``x264_picture_alloc`` and
    ``x264_encoder_encode`` are used.  The size is set at the fixed offsets
    of ``i_width``/``i_height`` in ``x264_param_t`` (the struct has started
    with the same nine ints since x264 build 142), and the planes are read
    from ``x264_picture_t.img`` (offsets stable since build 100).
    """

    def __init__(self, width: int, height: int, fps: float, preset: str = "veryfast"):
        name = ctypes.util.find_library("x264")
        candidates = [name] if name else []
        candidates += [f"libx264.so.{b}" for b in (164, 163, 161, 160, 157, 155, 152, 148)]
        self.lib = None
        for candidate in candidates:
            try:
                self.lib = ctypes.CDLL(candidate)
                self.library = candidate
                break
            except OSError:
                continue
        if self.lib is None:
            raise OSError("libx264 not found")
        build = int(self.library.rsplit(".", 1)[-1]) if self.library.rsplit(".", 1)[-1].isdigit() else None
        opener = None
        for b in ([build] if build else []) + [164, 163, 161, 160, 157, 155, 152, 148]:
            opener = getattr(self.lib, f"x264_encoder_open_{b}", None)
            if opener is not None:
                self.build = b
                break
        if opener is None:
            raise OSError("no x264_encoder_open_<build> in libx264")
        opener.restype = ctypes.c_void_p
        self.width, self.height = width, height
        self._param = ctypes.create_string_buffer(1 << 16)
        if self.lib.x264_param_default_preset(self._param, preset.encode(), None) != 0:
            raise OSError(f"x264 preset {preset} refused")
        ctypes.c_int.from_buffer(self._param, 28).value = width
        ctypes.c_int.from_buffer(self._param, 32).value = height
        for key, value in (("fps", f"{fps:g}"), ("keyint", str(int(2 * fps))), ("bitrate", "2500"),
                           ("vbv-maxrate", "2500"), ("vbv-bufsize", "2500")):
            self.lib.x264_param_parse(self._param, key.encode(), value.encode())
        self.lib.x264_param_apply_profile(self._param, b"high")
        self._handle = ctypes.c_void_p(opener(self._param))
        if not self._handle.value:
            raise OSError("x264_encoder_open failed")
        self._pic = ctypes.create_string_buffer(8192)
        self._out = ctypes.create_string_buffer(8192)
        if self.lib.x264_picture_alloc(self._pic, 0x0002, width, height) != 0:  # X264_CSP_I420
            raise OSError("x264_picture_alloc failed")
        self._planes = [ctypes.c_void_p.from_buffer(self._pic, 64 + 8 * i).value for i in range(3)]
        self._nals, self._n = ctypes.c_void_p(), ctypes.c_int()
        self.description = f"H.264 by libx264 build {self.build} ({self.library}), preset {preset}, 2500 kb/s"

    def encode(self, i420, pts: int) -> int:
        """Encode one frame: ``i420`` uint8, shape (H * 3 // 2, W), contiguous; returns the bytes produced."""
        w, h = self.width, self.height
        base = i420.ctypes.data
        ctypes.memmove(self._planes[0], base, w * h)
        ctypes.memmove(self._planes[1], base + w * h, w * h // 4)
        ctypes.memmove(self._planes[2], base + w * h + w * h // 4, w * h // 4)
        ctypes.c_int64.from_buffer(self._pic, 16).value = pts
        return max(0, self.lib.x264_encoder_encode(self._handle, ctypes.byref(self._nals), ctypes.byref(self._n),
                                                   self._pic, self._out))


def _encode(width: int, height: int, fps: float, parent: int) -> None:
    import cv2

    from livestyle.sources.demo import DemoSource

    demo = DemoSource(size=(width, height), fps=fps)
    demo.open()
    frames = [cv2.cvtColor(demo.read(), cv2.COLOR_BGR2YUV_I420) for _ in range(int(2 * fps))]
    demo.close()
    try:
        encoder = X264(width, height, fps)
        encode = encoder.encode
        description = encoder.description
    except OSError as exc:
        import tempfile

        folder = tempfile.mkdtemp(prefix="livestyle-encode-load-")
        writer = cv2.VideoWriter(os.path.join(folder, "load.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                 (width, height))

        def encode(i420, pts):
            writer.write(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420))
            return 0
        description = f"OpenCV mp4v (MPEG-4 Part 2; libx264 unavailable: {exc})"
    print(description, flush=True)
    start = time.perf_counter()
    index = 0
    while os.getppid() == parent:
        encode(frames[index % len(frames)], index)
        index += 1
        delay = start + index / fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    parent = _die_with_parent()
    if argv[:1] == ["busy"]:
        _busy(int(argv[1]), parent)
    elif argv[:1] == ["encode"]:
        w, h = (int(v) for v in argv[1].split("x"))
        _encode(w, h, float(argv[2]), parent)
    else:
        print("usage: python -m livestyle.bench.load busy CPU | encode WxH FPS", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
