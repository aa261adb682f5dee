"""Lag of livestyle's network output in a real OBS Studio, in frames, over minutes.

Serves 640x360 frames carrying their index as a bar code through StreamSink
(Matroska/JPEG, Matroska/raw BGRA with --format bgra, or multipart JPEG with --format mjpeg) at --fps to an OBS Media
Source (headless OBS under Xvfb, started here), reads the index back from
GetSourceScreenshot 4 times a second, and reports the lag = newest index sent
when OBS answered - index shown (an upper bound: it includes the screenshot's
own round trip) and the same with the newest index at request time (a lower
bound), per minute and overall.  Writes a JSON file with every sample.

    .venv/bin/python benchmarks/obs_lag.py --fps 30 --seconds 300 --out benchmarks/obs/lag_30fps.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livestyle.fsutil import write_json_atomic  # noqa: E402
from livestyle.obs.client import ObsClient  # noqa: E402
from livestyle.obs.setup import MEDIA_SOURCE_SETTINGS, screenshot  # noqa: E402
from livestyle.sinks.stream import StreamSink  # noqa: E402
from tests.support.obs_frames import PacedFeeder, barcode_frame, read_barcode  # noqa: E402
from tests.support.obs_studio import start_obs  # noqa: E402


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--format", choices=("mkv", "bgra", "mjpeg"), default="mkv",
                    help="mkv: Matroska/JPEG (default); bgra: Matroska with raw BGRA (the transparent background's "
                         "stream); mjpeg: multipart JPEG")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    size = (640, 360)
    frames = [barcode_frame(i, size) for i in range(1 << 12)]  # drawn up front: the feeder only sends
    sink = StreamSink(port=0, alpha=args.format == "bgra")
    sink.open(size, args.fps)
    feeder = PacedFeeder(sink, args.fps, size, frames=frames).start()
    obs = start_obs(Path(tempfile.mkdtemp(prefix="obs-lag-")), fps=int(round(args.fps)))
    samples = []
    try:
        with ObsClient(obs.url, obs.password) as c:
            settings = dict(MEDIA_SOURCE_SETTINGS,
                            input=sink.mjpeg_url if args.format == "mjpeg" else sink.url,
                            input_format="mpjpeg" if args.format == "mjpeg" else "matroska")
            c.call("CreateInput", {"sceneName": "Scene", "inputName": "livestyle", "inputKind": "ffmpeg_source",
                                   "inputSettings": settings})
            t_start = time.monotonic()
            while time.monotonic() - t_start < args.seconds:
                before = feeder.last_index
                img = screenshot(c, "livestyle", 320)
                after = feeder.last_index
                shown = read_barcode(img)
                if shown is not None and after > 64:
                    # indices wrap at 4096 (the frame cache): unwrap against the newest sent
                    shown_full = after - ((after - shown) % (1 << 12))
                    samples.append({"t": round(time.monotonic() - t_start, 3), "shown": shown_full,
                                    "lag_hi": after - shown_full, "lag_lo": before - shown_full})
                time.sleep(0.25)
    finally:
        feeder.stop()
        obs.stop()
        sink.close()
    hi = [s["lag_hi"] for s in samples]
    lo = [s["lag_lo"] for s in samples]
    per_minute = []
    for m in range(int(args.seconds // 60) + 1):
        part = [s["lag_hi"] for s in samples if m * 60 <= s["t"] < (m + 1) * 60]
        if part:
            per_minute.append({"minute": m, "median": statistics.median(part), "p95": pct(part, 0.95),
                               "max": max(part), "n": len(part)})
    send_ms = sorted(1000 * t for t in feeder.send_times)
    result = {"fps": args.fps, "seconds": args.seconds, "format": args.format, "samples": len(samples),
              "lag_frames_upper": {"median": statistics.median(hi), "p95": pct(hi, 0.95), "max": max(hi)},
              "lag_frames_lower": {"median": statistics.median(lo), "p95": pct(lo, 0.95), "max": max(lo)},
              "per_minute_upper": per_minute, "client_drops": sink.client_drops,
              "send_ms_median": round(statistics.median(send_ms), 4), "frames_sent": sink.frames_sent,
              "sink_encode_ms_smoothed": round(1000 * sink.extra_delay_s, 3)}
    print(json.dumps({k: v for k, v in result.items()}, indent=2))
    if args.out:
        write_json_atomic(args.out, {**result, "all": samples})
    return 0


if __name__ == "__main__":
    sys.exit(main())
