"""Soak test: a long live run at 720p30, changing look and strength every 10 s through the control API.

Starts the real CLI in a subprocess::

    livestyle run --input demo --realtime --size 1280x720 --fps 30 --output null \
        --control 127.0.0.1:PORT --control-token TOKEN --report DIR/report.json

then, until the time is up: every ``--interval`` seconds it asks for the next
look (``POST /api/style {"name": ...}``, cycling through ``GET /api/styles``)
and a new strength (``POST /api/strength {"value": ...}``); every
``--sample`` seconds it reads the process's resident memory (VmRSS in
/proc/PID/status) and ``GET /api/state`` (fps, capture->send p50/p95 over the
last 5 s, drops, CPU).  Every failed request, non-200 answer, look error in
the state, unexpected exit or error line on the child's stderr is recorded as
an error.  At the end it stops the run with SIGINT (a clean stop exits 130).

Writes ``soak.json`` (samples, per-minute table, changes, errors, verdicts)
and ``soak.png`` (memory, latency, fps over time, look changes marked) into
``--out`` and prints verdict lines against the targets:

* resident memory grows by at most 10 MB after the first minute
  (baseline: the sample at ``min(60 s, duration / 2)``);
* p95 latency in the last 5 minutes within 10 % of the first 5, read as "not
  more than 10 % above" (a fall is no regression); windows of
  ``min(300 s, duration / 3)``, the first 10 s of warm-up left out, each
  window's value the median of its 5-second p95 samples;
* zero errors.

    .venv/bin/python benchmarks/soak.py                 # 30 minutes
    .venv/bin/python benchmarks/soak.py --seconds 60    # the short version tests/test_soak.py runs

Exit status: 0 when every verdict passes, 1 otherwise, 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livestyle.fsutil import atomic_path, write_json_atomic  # noqa: E402 - after the path insert

RSS_GROWTH_MB = 10.0
P95_TOLERANCE = 0.10
STRENGTHS = (1.0, 0.6, 0.85, 0.4, 0.7)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (VmRSS), or None when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Api:
    """The control API of one run: JSON requests with the bearer token; raises on anything but 200."""

    def __init__(self, port: int, token: str, timeout_s: float = 5.0):
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              **({"Content-Type": "application/json"} if data else {})})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{method} {path}: HTTP {resp.status}")
            return json.loads(resp.read().decode() or "{}")


def wait_ready(api: Api, proc: subprocess.Popen, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"livestyle run exited with {proc.returncode} before its control API answered")
        try:
            state = api.request("GET", "/api/state")
            if state.get("frames_out", 0) > 0:
                return state
        except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"the control API did not answer within {timeout_s:g} s ({last})")


def style_names(api: Api) -> list[str]:
    answer = api.request("GET", "/api/styles")
    items = answer.get("styles", answer) if isinstance(answer, dict) else answer
    names = [item["name"] if isinstance(item, dict) else str(item) for item in items]
    return [n for n in names if n]


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 2) if values else None


def analyse(samples: list[dict], duration_s: float, errors: list[dict]) -> tuple[list[dict], dict]:
    """Per-minute table and verdicts from the samples (t_s, rss_mb, fps, p50_ms, p95_ms, dropped)."""
    minutes = []
    for m in range(int(duration_s // 60) + (1 if duration_s % 60 > 1 else 0)):
        inside = [s for s in samples if m * 60 <= s["t_s"] < (m + 1) * 60]
        if not inside:
            continue
        minutes.append({"minute": m, "samples": len(inside),
                        "p50_ms": _median([s["p50_ms"] for s in inside]),
                        "p95_ms": _median([s["p95_ms"] for s in inside]),
                        "p95_max_ms": max((s["p95_ms"] for s in inside if s["p95_ms"] is not None), default=None),
                        "fps": _median([s["fps"] for s in inside]),
                        "rss_mb": round(max(s["rss_mb"] for s in inside if s["rss_mb"] is not None), 1)})
    verdicts = {}
    base_t = min(60.0, duration_s / 2)
    base = next((s for s in samples if s["t_s"] >= base_t and s["rss_mb"] is not None), None)
    last = next((s for s in reversed(samples) if s["rss_mb"] is not None), None)
    if base and last:
        growth = last["rss_mb"] - base["rss_mb"]
        verdicts["rss"] = {"pass": growth <= RSS_GROWTH_MB, "growth_mb": round(growth, 1),
                           "baseline_t_s": round(base["t_s"], 1), "baseline_mb": round(base["rss_mb"], 1),
                           "end_mb": round(last["rss_mb"], 1), "target": f"<= {RSS_GROWTH_MB:g} MB after the first minute"}
    window = min(300.0, duration_s / 3)
    first = [s["p95_ms"] for s in samples if 10.0 <= s["t_s"] < 10.0 + window and s["p95_ms"] is not None]
    final = [s["p95_ms"] for s in samples if s["t_s"] >= duration_s - window and s["p95_ms"] is not None]
    if first and final:
        a, b = statistics.median(first), statistics.median(final)
        change = (b - a) / a if a else 0.0
        verdicts["p95"] = {"pass": change <= P95_TOLERANCE, "first_ms": round(a, 2), "last_ms": round(b, 2),
                           "change": round(change, 3), "window_s": window,
                           "target": f"last window's p95 at most {P95_TOLERANCE:.0%} above the first's (lower passes)"}
    verdicts["errors"] = {"pass": not errors, "count": len(errors), "target": "zero errors"}
    return minutes, verdicts


def plot(path: Path, samples: list[dict], changes: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    t = [s["t_s"] / 60.0 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(11, 8), dpi=100, sharex=True)
    axes[0].plot(t, [s["rss_mb"] for s in samples], color="#1f77b4")
    axes[0].set_ylabel("resident MB")
    axes[0].set_title(title, fontsize=10)
    axes[1].plot(t, [s["p50_ms"] for s in samples], label="p50 (5 s window)", color="#2ca02c")
    axes[1].plot(t, [s["p95_ms"] for s in samples], label="p95 (5 s window)", color="#ff7f0e")
    axes[1].set_ylabel("capture→send ms")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=8)
    axes[2].plot(t, [s["fps"] for s in samples], color="#9467bd")
    axes[2].set_ylabel("fps out")
    axes[2].set_xlabel("minutes")
    for c in changes:
        for ax in axes:
            ax.axvline(c["t_s"] / 60.0, color="#cccccc", linewidth=0.5, zorder=0)
    fig.tight_layout()
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=None, help="duration in seconds (overrides --minutes)")
    ap.add_argument("--interval", type=float, default=10.0, help="seconds between look/strength changes")
    ap.add_argument("--sample", type=float, default=2.0, help="seconds between memory/state samples")
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", default="30")
    ap.add_argument("--out", default=None)
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    duration = args.seconds if args.seconds is not None else args.minutes * 60.0

    from livestyle.bench.report import cpu_model, versions

    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size", args.size,
           "--fps", args.fps, "--output", "null", "--control", f"127.0.0.1:{port}", "--control-token", token,
           "--report", str(out / "report.json")]
    shown_cmd = " ".join(c if c != token else "TOKEN" for c in cmd)
    stderr_path = out / "run.stderr.txt"
    errors: list[dict] = []
    samples: list[dict] = []
    changes: list[dict] = []
    with open(stderr_path, "w") as stderr_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr_file,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        api = Api(port, token)
        try:
            try:
                wait_ready(api, proc, args.startup_timeout)
                looks = style_names(api)
            except (RuntimeError, OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                print(f"soak: could not start: {exc}", file=sys.stderr)
                return 2
            if not looks:
                print("soak: the control API lists no looks", file=sys.stderr)
                return 2
            t0 = time.monotonic()
            next_change, next_sample, k = 0.0, 0.0, 0
            print(f"soak: {duration:g} s, looks {', '.join(looks)}, pid {proc.pid}", file=sys.stderr, flush=True)
            while (now := time.monotonic() - t0) < duration:
                if proc.poll() is not None:
                    errors.append({"t_s": round(now, 1), "what": f"livestyle run exited early with {proc.returncode}"})
                    break
                if now >= next_change:
                    look, strength = looks[k % len(looks)], STRENGTHS[k % len(STRENGTHS)]
                    k += 1
                    for path, body in (("/api/style", {"name": look}), ("/api/strength", {"value": strength})):
                        try:
                            api.request("POST", path, body)
                        except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
                            errors.append({"t_s": round(now, 1), "what": f"POST {path} {body}: {exc}"})
                    changes.append({"t_s": round(now, 2), "look": look, "strength": strength})
                    next_change += args.interval
                if now >= next_sample:
                    sample = {"t_s": round(now, 2), "rss_mb": rss_mb(proc.pid), "fps": None, "p50_ms": None,
                              "p95_ms": None, "dropped": None, "cpu_percent": None, "look": None}
                    try:
                        state = api.request("GET", "/api/state")
                        lat = state.get("latency_ms") or {}
                        sample.update(fps=state.get("fps_out"), p50_ms=lat.get("p50"), p95_ms=lat.get("p95"),
                                      dropped=state.get("dropped"), cpu_percent=state.get("cpu_percent"),
                                      look=state.get("look"))
                        if state.get("error"):
                            errors.append({"t_s": round(now, 1), "what": f"look error in the state: {state['error']}"})
                    except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
                        errors.append({"t_s": round(now, 1), "what": f"GET /api/state: {exc}"})
                    samples.append(sample)
                    if len(samples) % max(1, int(60 / args.sample)) == 0:
                        print(f"soak: {now / 60:5.1f} min  rss {sample['rss_mb']:.1f} MB  fps {sample['fps']}  "
                              f"p95 {sample['p95_ms']} ms  errors {len(errors)}", file=sys.stderr, flush=True)
                    next_sample += args.sample
                time.sleep(max(0.0, min(next_change, next_sample) - (time.monotonic() - t0)))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    errors.append({"t_s": None, "what": "livestyle run did not stop within 30 s of SIGINT"})
    if proc.returncode not in (130, 0) and not any("exited early" in e["what"] for e in errors):
        errors.append({"t_s": None, "what": f"livestyle run exited with {proc.returncode} after SIGINT (expected 130)"})
    for line in stderr_path.read_text(errors="replace").splitlines():
        low = line.lower()
        if "traceback" in low or low.startswith("livestyle: error") or line.startswith("ERROR"):
            errors.append({"t_s": None, "what": f"stderr: {line.strip()[:300]}"})
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    if report is None:
        errors.append({"t_s": None, "what": "no report.json was written"})
    minutes, verdicts = analyse(samples, duration, errors)
    confirmed = 0  # changes whose look the state reported by the last sample before the next change
    for i, c in enumerate(changes):
        end = changes[i + 1]["t_s"] if i + 1 < len(changes) else float("inf")
        inside = [s for s in samples if c["t_s"] < s["t_s"] < end]
        confirmed += bool(inside) and inside[-1]["look"] == c["look"]
    result = {
        "command": shown_cmd, "soak_command": " ".join([sys.executable, *sys.argv]), "duration_s": duration,
        "interval_s": args.interval, "cpu_model": cpu_model(), "host": platform.node(), "versions": versions(),
        "looks": looks, "changes": changes, "changes_seen_in_state": confirmed, "samples": samples,
        "minutes": minutes, "errors": errors, "verdicts": verdicts, "exit_code": proc.returncode,
        "report": report,
    }
    write_json_atomic(out / "soak.json", result)
    p95 = verdicts.get("p95", {})
    plot(out / "soak.png", samples, changes,
         f"soak {duration / 60:g} min, {args.size}@{args.fps}, {len(changes)} look/strength changes, "
         f"{len(errors)} errors — {cpu_model()}")
    for name, v in verdicts.items():
        detail = {"rss": lambda v: f"RSS {v['baseline_mb']} MB at {v['baseline_t_s']} s -> {v['end_mb']} MB "
                                   f"(+{v['growth_mb']} MB)",
                  "p95": lambda v: f"p95 {v['first_ms']} ms first {v['window_s']:g} s -> {v['last_ms']} ms last "
                                   f"({v['change']:+.1%})",
                  "errors": lambda v: f"{v['count']} errors"}[name](v)
        print(f"{'PASS' if v['pass'] else 'FAIL'} {name}: {detail} (target: {v['target']})")
    if not p95:
        print("SKIP p95: not enough latency samples")
    for e in errors[:20]:
        print(f"  error at {e['t_s']} s: {e['what']}")
    print(f"soak: results in {out}")
    return 0 if all(v["pass"] for v in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
