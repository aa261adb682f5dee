"""Record a video through FileSink under a file-size limit, in this process; print a JSON report.

Run as ``python -m tests.support.limited_writer TARGET FRAMES WIDTH HEIGHT LIMIT_BYTES`` (LIMIT 0: none).
The limit is ``RLIMIT_FSIZE`` with SIGXFSZ ignored, so a write past it fails
with EFBIG exactly as on a full disk (ENOSPC) — no root, no mount.  Frames
are random noise (seed = frame index) so they compress badly and the sizes
are the same on every run.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path

import numpy as np


def frame(index: int, width: int, height: int) -> np.ndarray:
    """uint8 BGR noise, shape (height, width, 3), the same for the same index."""
    return np.random.default_rng(index).integers(0, 256, (height, width, 3), dtype=np.uint8)


def main(argv: list[str]) -> int:
    target, frames, width, height, limit = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), int(argv[4])
    if limit > 0:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from livestyle.errors import SinkError
    from livestyle.frame import Frame
    from livestyle.sinks.file import FileSink

    report: dict = {"sent": 0, "send_error": None, "send_error_at": None, "close_error": None}
    sink = FileSink(target)
    sink.open((width, height), 30.0)
    temp = sink.temp_path
    try:
        for index in range(frames):
            sink.send(Frame(frame(index, width, height), index))
            report["sent"] += 1
    except SinkError as error:
        report["send_error"], report["send_error_at"] = str(error), index
    try:
        sink.close()
    except SinkError as error:
        report["close_error"] = str(error)
    report["target_exists"] = target.exists()
    report["target_size"] = target.stat().st_size if target.exists() else None
    report["temp_left"] = temp is not None and temp.exists()
    report["folder"] = sorted(p.name for p in target.parent.iterdir())
    report["written_size"] = list(sink.written_size or ())
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
