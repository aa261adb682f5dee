"""The control server under many clients: stream rate with event-stream clients, and shutdown time.

Runs the real CLI (``livestyle run --input demo --realtime --size 1280x720
--output null --control 127.0.0.1:0``, the bundled looks) and drives its
control port over real loopback sockets, all clients from one thread with
``selectors`` (so the benchmark itself costs the 2-core machine little):

* ``events``: N clients open ``GET /api/events`` and read everything, while
  the look alternates pastel/vintage 10 times a second (``POST /api/style``);
  after a warm-up, ``/api/state`` is sampled once a second for ``fps_out``
  and capture->send p95 (both over the pipeline's last 5 s) and drops.  The
  same with 0 clients is the baseline.  Reports how many clients got the
  stream and how many were refused (503).
* ``shutdown``: N clients hold the control port (half connected and silent,
  half sending a header line of ``GET /api/state`` every 5 s, never
  finishing), then SIGTERM; reports the seconds to the process exit, the
  exit status and whether the report was written.  Bounded: the run is
  killed after ``--shutdown-limit`` seconds.

``--pythonpath`` runs another tree's livestyle (for before/after numbers).
Writes ``benchmarks/results/control_load-STAMP.json`` (atomically).

    .venv/bin/python benchmarks/control_load.py --clients 200
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from pipeline_bench import cpu_name  # noqa: E402

TOKEN = "load-token"


class Run:
    """The CLI with the control API on a free loopback port."""

    def __init__(self, pythonpath: str, report: Path, size: str):
        env = dict(os.environ)
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "livestyle", "run", "--input", "demo", "--realtime", "--size", size,
               "--output", "null", "--style", "pastel", "--quality", "fixed", "--control", "127.0.0.1:0",
               "--control-token", TOKEN, "--report", str(report)]
        self.report = report
        self.proc = subprocess.Popen(cmd, env=env, cwd=pythonpath,  # -m puts the working folder first on the path
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)/", line)
        if not m:
            self.proc.kill()
            raise SystemExit(f"no control URL in {line!r}: {self.proc.stderr.read()[-2000:]}")
        self.port = int(m.group(1))

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: {len(data)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(head.encode() + data)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
        status = int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/") else 0
        return status, got.partition(b"\r\n\r\n")[2]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def _connect_all(port: int, n: int, request: bytes | None, sel: selectors.BaseSelector) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            if request:
                s.sendall(request)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, {"head": b"", "status": None, "bytes": 0})
        socks.append(s)
    return socks


def _pump(sel: selectors.BaseSelector, seconds: float) -> None:
    """Read whatever the server sends, for ``seconds``."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        for key, _ in sel.select(min(left, 0.05)):
            s, st = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                st["closed"] = True
                continue
            st["bytes"] += len(data)
            if st["status"] is None:
                st["head"] += data
                if b"\r\n" in st["head"]:
                    st["status"] = int(st["head"].split(b" ", 2)[1])


def events_case(args, n_clients: int) -> dict:
    with tempfile.TemporaryDirectory() as td:
        run = Run(args.pythonpath, Path(td) / "r.json", args.size)
        sel = selectors.DefaultSelector()
        states = []
        try:
            time.sleep(args.warmup)
            req = (f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{run.port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
                   ).encode()
            socks = _connect_all(run.port, n_clients, req, sel)
            datas = {id(s): sel.get_key(s).data for s in socks}
            t0 = time.monotonic()
            i = 0
            next_sample = t0 + 5.0  # the pipeline's windows are 5 s: sample once they hold only loaded time
            while time.monotonic() - t0 < 5.0 + args.seconds:
                try:
                    run.request("POST", "/api/style", {"name": ("pastel", "vintage")[i % 2]})
                except OSError:
                    pass
                i += 1
                if time.monotonic() >= next_sample:
                    try:
                        status, body = run.request("GET", "/api/state")
                        if status == 200:
                            states.append(json.loads(body))
                    except OSError:
                        pass
                    next_sample += 1.0
                _pump(sel, max(0.0, t0 + i * 0.1 - time.monotonic()))  # 10 look changes a second
            statuses = [d["status"] for d in datas.values()]
            served = sum(1 for d in datas.values() if d["status"] == 200 and not d.get("closed"))
            for s in list(sel.get_map().values()):
                s.fileobj.close()
        finally:
            run.proc.send_signal(signal.SIGTERM)
            try:
                run.proc.communicate(timeout=args.shutdown_limit)
            except subprocess.TimeoutExpired:
                run.kill()
        fps = [s["fps_out"] for s in states]
        p95 = [s["latency_ms"]["p95"] for s in states if s["latency_ms"]["p95"] is not None]
        return {"clients": n_clients, "look_changes": i, "streams_open_at_end": served,
                "refused_503": statuses.count(503), "no_answer": statuses.count(None),
                "fps_median": statistics.median(fps) if fps else None, "fps_min": min(fps) if fps else None,
                "p95_ms_median": statistics.median(p95) if p95 else None, "p95_ms_max": max(p95) if p95 else None,
                "dropped": (states[-1]["dropped"] - states[0]["dropped"]) if len(states) > 1 else None,
                "samples": len(states)}


def shutdown_case(args, n_clients: int) -> dict:
    with tempfile.TemporaryDirectory() as td:
        run = Run(args.pythonpath, Path(td) / "r.json", args.size)
        sel = selectors.DefaultSelector()
        try:
            time.sleep(args.warmup)
            idle = _connect_all(run.port, n_clients // 2, None, sel)
            slow = _connect_all(run.port, n_clients - n_clients // 2, b"GET /api/state HTTP/1.1\r\n", sel)
            t_line = time.monotonic()
            _pump(sel, 2.0)
            held = sum(1 for k in sel.get_map().values() if k.data["status"] is None)
            answered = {}
            for k in sel.get_map().values():
                answered[k.data["status"]] = answered.get(k.data["status"], 0) + 1
            t0 = time.perf_counter()
            run.proc.send_signal(signal.SIGTERM)
            k = 0
            while run.proc.poll() is None and time.perf_counter() - t0 < args.shutdown_limit:
                if time.monotonic() - t_line >= 5.0:  # the slow clients go on: one header line every 5 s
                    for s in slow:
                        try:
                            s.send(f"X-Slow-{k}: {k}\r\n".encode())
                        except OSError:
                            pass
                    k += 1
                    t_line = time.monotonic()
                _pump(sel, 0.02)
            seconds = time.perf_counter() - t0
            code = run.proc.poll()
            for s in idle + slow:
                s.close()
        finally:
            run.kill()
        return {"clients": n_clients, "held_open_before_sigterm": held, "open_by_status": answered, "seconds_to_exit": round(seconds, 2),
                "exited": code is not None, "exit_status": code, "report_written": run.report.exists()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0, help="sampled seconds of the events case")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--shutdown-limit", type=float, default=30.0)
    ap.add_argument("--pythonpath", default=str(ROOT), help="the tree whose livestyle runs (default: this one)")
    ap.add_argument("--cases", default="events0,events,shutdown")
    args = ap.parse_args()
    out = {"machine": f"{cpu_name()}, {os.cpu_count()} cores", "tree": args.pythonpath, "size": args.size,
           "loadavg_at_start": os.getloadavg()}  # other work on the machine moves the fps; compare runs close in time
    for case in args.cases.split(","):
        if case == "events0":
            out["events_baseline"] = r = events_case(args, 0)
        elif case == "events":
            out["events"] = r = events_case(args, args.clients)
        elif case == "shutdown":
            out["shutdown"] = r = shutdown_case(args, args.clients)
        else:
            raise SystemExit(f"unknown case {case!r}")
        print(case, json.dumps(r), file=sys.stderr, flush=True)
    out["loadavg_at_end"] = os.getloadavg()
    from livestyle.fsutil import write_json_atomic

    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    write_json_atomic(results / f"control_load-{time.strftime('%Y%m%d-%H%M%S')}.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
