"""What the network output costs the pipeline: StreamSink.send() time per 720p frame with N clients.

Feeds 1280x720 frames (the demo scene, so JPEG sizes are realistic) at
--fps to a StreamSink with --clients readers attached (multipart JPEG readers
that read every byte, plus optionally Matroska ones), and reports the
distribution of the send() call (what the pipeline's output thread pays) and,
separately, the encoder thread's JPEG time per frame (CPU the sink takes on
another thread, shared by all clients), frames delivered per client and drops.
``sink_cpu_ms_per_frame`` is the CPU time of the sink's own threads (encoder,
HTTP server, one handler per client) over the run, per frame sent: every
thread of the process but the main one and the readers, from /proc.

    .venv/bin/python benchmarks/stream_cost.py --clients 2 --seconds 20
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from livestyle.frame import Frame  # noqa: E402
from livestyle.sinks.stream import StreamSink  # noqa: E402
from livestyle.sources.demo import DemoSource  # noqa: E402


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


class Reader(threading.Thread):
    def __init__(self, sink: StreamSink, fmt: str):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", sink.port, timeout=10)
        self.conn.request("GET", f"{sink.path}?format={fmt}&token={sink.token}")
        self.resp = self.conn.getresponse()
        self.bytes = 0
        self.stop = False

    def run(self):
        self.tid = threading.get_native_id()
        while not self.stop:
            data = self.resp.read1(1 << 16)
            if not data:
                return
            self.bytes += len(data)


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds (user + system) of every thread of this process, by native thread id (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--format", choices=("mjpeg", "mkv", "bgra"), default="mkv",
                    help="bgra: raw BGRA Matroska (the transparent background's stream), fed BGRA frames")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    demo = DemoSource(size=(w, h), fps=args.fps)
    demo.open()
    frames = [demo.read() for _ in range(60)]
    demo.close()
    if args.format == "bgra":  # frames with an alpha channel, as --background transparent sends them
        frames = [cv2.cvtColor(f, cv2.COLOR_BGR2BGRA) for f in frames]
    enc = []
    for img in frames[:30]:
        t = time.perf_counter()
        if args.format == "bgra":
            memoryview(img.reshape(-1))  # what the encoder thread does for a raw BGRA client: no copy
        else:
            cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 80])
        enc.append(time.perf_counter() - t)

    sink = StreamSink(port=0, alpha=args.format == "bgra")
    sink.open((w, h), args.fps)
    readers = [Reader(sink, args.format) for _ in range(args.clients)]
    for r in readers:
        r.start()
    while sink.clients < args.clients:
        time.sleep(0.01)
    send = []
    cpu0 = thread_cpu_s()
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < args.seconds:
        due = t0 + i / args.fps
        d = due - time.perf_counter()
        if d > 0:
            time.sleep(d)
        f = Frame(image=frames[i % len(frames)], index=i)
        t = time.perf_counter()
        sink.send(f)
        send.append(time.perf_counter() - t)
        i += 1
    time.sleep(0.5)
    cpu1 = thread_cpu_s()
    skip = {threading.main_thread().native_id} | {r.tid for r in readers}
    sink_cpu = sum(v - cpu0.get(t, 0.0) for t, v in cpu1.items() if t not in skip)
    result = {
        "size": f"{w}x{h}", "fps": args.fps, "clients": args.clients, "format": args.format, "frames": i,
        "send_ms": {"median": round(1000 * statistics.median(send), 4), "p95": round(1000 * pct(send, 0.95), 4),
                    "max": round(1000 * max(send), 3)},
        "encode_ms_per_frame_other_thread": {"median": round(1000 * statistics.median(enc), 2),
                                             "p95": round(1000 * pct(enc, 0.95), 2)},
        "sink_cpu_ms_per_frame": round(1000 * sink_cpu / max(1, i), 3),
        "frames_encoded": sink.frames_encoded, "client_drops": sink.client_drops,
        "mbytes_per_client": [round(r.bytes / 1e6, 1) for r in readers],
        "extra_delay_ms": round(1000 * sink.extra_delay_s, 2),
    }
    for r in readers:
        r.stop = True
    sink.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
