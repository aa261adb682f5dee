"""What the control surface costs the frame loop, and how fast a command reaches the output.

Runs the real CLI on a paced 1280x720 30 fps video (the demo scene) three
ways, interleaved and repeated so machine noise hits each alike:

* ``no control``: ``livestyle run`` as before;
* ``control, idle``: ``--control`` with nobody connected;
* ``control + panel``: ``--control`` with what an open web panel does: the
  event stream read continuously, ``/api/snapshot.jpg`` every 0.5 s,
  ``/api/state`` every second, plus a command (strength) every 0.5 s.

What the server costs is measured two ways: the CPU time its request
threads used (``thread_time``, summed by the server and divided by the frames
sent: the report's ``control.cpu_ms_per_frame``), and side by side, the
process CPU time per frame (noisier: the machine's other work moves it by
more than the server does) and capture->send latency.  Command -> first output frame that shows it comes from the
report's ``latency_ms.control_to_frame`` (measured inside the pipeline: the
time from the control change to the send of the first frame made with it).

    .venv/bin/python benchmarks/control_bench.py --seconds 20 --repeats 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline_bench import cpu_name, write_demo_video  # noqa: E402

TOKEN = "bench-token"


def _panel_client(port: int, stop: threading.Event, commands: list[int]) -> None:
    """Behave like an open panel: stream events, poll the snapshot and state, send a command every 0.5 s."""
    headers = {"Host": f"127.0.0.1:{port}", "Authorization": f"Bearer {TOKEN}"}

    def events():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/events", headers=headers)
            r = c.getresponse()
            while not stop.is_set() and r.fp.read1(65536):
                pass
        except OSError:
            pass
    threading.Thread(target=events, daemon=True).start()
    i, t_next_state = 0, 0.0
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/snapshot.jpg", headers=headers)
            c.getresponse().read()
            if time.monotonic() >= t_next_state:
                c.request("GET", "/api/state", headers=headers)
                c.getresponse().read()
                t_next_state = time.monotonic() + 1.0
            body = json.dumps({"value": 0.5 + 0.5 * (i % 2)})
            c.request("POST", "/api/strength", body=body, headers={**headers, "Content-Type": "application/json"})
            c.getresponse().read()
            commands.append(1)
            c.close()
            i += 1
        except OSError:
            pass
        stop.wait(0.5)


def run_once(video: Path, mode: str) -> dict:
    with tempfile.TemporaryDirectory() as td:
        rep = Path(td) / "r.json"
        cmd = [sys.executable, "-m", "livestyle", "run", "--input", str(video), "--realtime", "--output", "null",
               "--report", str(rep), "--quiet", "--quality", "fixed"]
        if mode != "no control":
            cmd += ["--control", "127.0.0.1:0", "--control-token", TOKEN]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stop, commands = threading.Event(), []
        client = None
        if mode != "no control":
            line = p.stdout.readline()
            m = re.search(r":(\d+)/", line)
            if not m:
                p.kill()
                raise SystemExit(f"no control URL in {line!r}: {p.stderr.read()}")
            if mode == "control + panel":
                client = threading.Thread(target=_panel_client, args=(int(m.group(1)), stop, commands), daemon=True)
                client.start()
        out, err = p.communicate()
        stop.set()
        if p.returncode != 0:
            raise SystemExit(f"run failed ({p.returncode}): {err}")
        r = json.loads(rep.read_text())
        r["commands_sent"] = len(commands)
        return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cache = ROOT / "benchmarks" / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    video = write_demo_video(cache / f"demo720-{int(args.seconds * 30)}.avi", (1280, 720), int(args.seconds * 30))
    modes = ("no control", "control, idle", "control + panel")
    results: dict[str, list[dict]] = {m: [] for m in modes}
    for i in range(args.repeats):
        for m in modes:
            r = run_once(video, m)
            results[m].append(r)
            print(f"[{i + 1}/{args.repeats}] {m}: {r['fps_out']:.2f} fps, cpu {r['cpu_ms_per_frame']['p50']} ms/frame, "
                  f"p95 {r['latency_ms']['capture_to_send']['p95']} ms, control->frame "
                  f"{r['latency_ms']['control_to_frame']}", file=sys.stderr)
    med = statistics.median
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores. 1280x720 30 fps paced, {args.seconds:.0f} s, "
          f"{args.repeats} interleaved runs each, medians.\n")
    print("| mode | fps out | steady drops | process CPU ms/frame p50 | server CPU ms/frame | requests | "
          "capture->send p50 / p95 ms | command->frame p50 / p95 ms (n) |")
    print("|---|---|---|---|---|---|---|---|")
    for m, reps in results.items():
        ctf = [r["latency_ms"]["control_to_frame"] for r in reps]
        ctf_txt = "-"
        if any(c["count"] for c in ctf):
            got = [c for c in ctf if c["count"]]
            ctf_txt = (f"{med([c['p50'] for c in got]):.1f} / {med([c['p95'] for c in got]):.1f} "
                       f"({sum(c['count'] for c in got)})")
        lat = [r["latency_ms"]["capture_to_send"] for r in reps]
        server = [r["control"]["cpu_ms_per_frame"] for r in reps if "control" in r]
        reqs = [r["control"]["requests"] for r in reps if "control" in r]
        server_txt = f"{med(server):.3f} (max {max(server):.3f})" if server else "-"
        print(f"| {m} | {med([r['fps_out'] for r in reps]):.2f} | {med([r['dropped_steady'] for r in reps])} | "
              f"{med([r['cpu_ms_per_frame']['p50'] for r in reps]):.2f} | {server_txt} | "
              f"{med(reqs) if reqs else '-'} | {med([x['p50'] for x in lat]):.1f} / "
              f"{med([x['p95'] for x in lat]):.1f} | {ctf_txt} |")
    base = med([r["cpu_ms_per_frame"]["p50"] for r in results["no control"]])
    for m in modes[1:]:
        d = med([r["cpu_ms_per_frame"]["p50"] for r in results[m]]) - base
        print(f"\n{m}: {d:+.2f} ms CPU per frame against no control (median of medians)")


if __name__ == "__main__":
    main()
